"""Bad input gets one `Error:` line, a hint and the documented exit code; no traceback, no
password: non-UTF-8 files, wrong types in [tool.dbops], a bad check parameter, URLs that
cannot be parsed; and a fuzz test over all of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ops.cli import cli
from tests.conftest import Database
from tests.server import HEAD, ROOT

EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 7}
DRY = ["retention", "run", "--dry-run"]


def _one_error(result: Result, code: int) -> str:
    """The run ended with `code`, one Error: line and a hint, no traceback; the Error line."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert any(line.startswith("Hint: ") for line in result.stderr.splitlines()), result.stderr
    return errors[0]


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# -- non-UTF-8 files ---------------------------------------------------------------------


def test_non_utf8_migration_exits_2_with_file_and_byte_offset(project: Path, db: Database) -> None:
    body = f"-- depends: {HEAD}\ncreate table latin1_marker (note text);\n-- caf".encode() + b"\xe9\n"
    (project / "migrations" / "9001_latin1.sql").write_bytes(body)
    (project / "migrations" / "9001_latin1.rollback.sql").write_text("drop table latin1_marker;\n")
    for verb in ("migrate", "status"):
        line = _one_error(
            _invoke("--database-url", db.url, "--migrations-dir", str(project / "migrations"), verb), 2
        )
        assert "9001_latin1.sql" in line and f"byte {len(body) - 2}" in line, line
    assert not db.scalar("select to_regclass('latin1_marker') is not null")


def test_non_utf8_policy_file_exits_2(tmp_path: Path, db: Database) -> None:
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    target = tmp_path / "policies" / "quizzes.sql"
    target.write_bytes(target.read_bytes() + b"-- \xff\xfe\n")
    line = _one_error(_invoke("--database-url", db.url, "--policies-dir", str(tmp_path / "policies"),
                              "policies", "apply"), 2)  # fmt: skip
    assert "quizzes.sql" in line and "byte" in line, line


def test_non_utf8_check_file_exits_2(tmp_path: Path, db: Database) -> None:
    shutil.copytree(ROOT / "checks", tmp_path / "checks")
    target = sorted((tmp_path / "checks").glob("*.sql"))[0]
    target.write_bytes(b"\x80" + target.read_bytes())
    line = _one_error(_invoke("--database-url", db.url, "--checks-dir", str(tmp_path / "checks"), "check"), 2)
    assert target.name in line and "byte 0" in line, line


# -- [tool.dbops] types and ranges -------------------------------------------------------


def _project_with(tmp_path: Path, toml: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(toml)
    shutil.copytree(ROOT / "migrations", tmp_path / "migrations")
    return tmp_path


@pytest.mark.parametrize(
    ("toml", "key", "verb"),
    [
        ("[tool.dbops]\nlock_retries = [1]\n", "lock_retries", ["status"]),
        ("[tool.dbops]\nlock_retries = -1\n", "lock_retries", ["status"]),
        ("[tool.dbops]\nlock_timeout = [1]\n", "lock_timeout", ["status"]),
        ("[tool.dbops]\nlock_timeout = true\n", "lock_timeout", ["status"]),
        ("[tool.dbops]\nlock_wait = {a = 1}\n", "lock_wait", ["status"]),
        ("[tool.dbops]\nmigrations_dir = 5\n", "migrations_dir", ["status"]),
        ("[tool.dbops.retention]\nbatch_time = [1]\n", "batch_time", ["retention", "run", "--dry-run"]),
        ("[tool.dbops.retention]\nstatement_timeout = [5]\n", "statement_timeout",
         ["retention", "run", "--dry-run"]),
        ("[tool.dbops.retention.quizzes]\nolder_than = \"999999999 weeks\"\n", "older_than",
         ["retention", "run", "--dry-run"]),
        ("[tool.dbops.retention.quizzes]\nolder_than = 1e300\n", "older_than", DRY),
        ("[tool.dbops.retention.quizzes]\nolder_than = nan\n", "older_than", DRY),
        ("[tool.dbops.checks]\nstatement_timeout = [5]\n", "statement_timeout", ["check"]),
        ("[tool.dbops.checks.params]\n\"no such; key\" = 1\n", "no such; key", ["check"]),
        ("[tool.dbops.checks.params]\nbloat_ratio = [[1]]\n", "bloat_ratio", ["check"]),
    ],
)  # fmt: skip
def test_wrong_types_in_tool_dbops_exit_2_naming_the_key(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch, toml: str, key: str, verb: list[str]
) -> None:
    monkeypatch.chdir(_project_with(tmp_path, toml))
    line = _one_error(_invoke("--database-url", db.url, *verb), 2)
    assert key in line, line


# -- passwords ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:s3cret%zz@127.0.0.1:1/db",
        "postgresql://u:s3cret@@127.0.0.1:1/db",
        "postgresql://u:s3cret@127.0.0.1:notaport/db",
        "host=127.0.0.1 port=1 password=s3cret dbname='unterminated",
        "postgresql://u:s3cret@127.0.0.1:1/db?sslmode=bogus",
    ],
)
@pytest.mark.parametrize("flags", [[], ["--json"], ["-v"]])
def test_no_password_in_any_output_for_a_bad_url(url: str, flags: list[str]) -> None:
    result = _invoke(*flags, "--database-url", url, "status")
    assert result.exit_code in (2, 3), result.output
    assert "s3cret" not in result.output
    assert sum(line.startswith("Error: ") for line in result.stderr.splitlines()) == 1
    if flags == ["--json"]:
        assert json.loads(result.stdout.strip().splitlines()[-1])["exit_code"] == result.exit_code
    if flags != ["-v"]:
        assert "Traceback" not in result.output


# -- fuzz ----------------------------------------------------------------------------------

_scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["5s", "250ms", "2min", "90 days", "999999999 weeks", "-1s", "1e300", "0"]),
)
_values = st.one_of(
    _scalars, st.lists(_scalars, max_size=3), st.dictionaries(st.text(max_size=6), _scalars, max_size=3)
)
_KEYS = ["lock_timeout", "lock_retries", "lock_wait", "migrations_dir", "checks_dir", "policies_dir"]
_RETENTION_KEYS = ["batch_time", "batch_pause", "lock_timeout", "statement_timeout", "max_runtime"]
_RULE_KEYS = ["older_than", "kind", "table", "column", "where", "keep_latest_per", "enabled", "children"]


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def _table(name: str, items: dict[str, object]) -> str:
    return f"[{name}]\n" + "".join(f"{json.dumps(k)} = {_toml_value(v)}\n" for k, v in items.items())


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    top=st.dictionaries(st.sampled_from(_KEYS), _values, max_size=3),
    retention=st.dictionaries(st.sampled_from(_RETENTION_KEYS), _values, max_size=3),
    rule=st.dictionaries(st.sampled_from(_RULE_KEYS), _values, max_size=2),
    verb=st.sampled_from(
        [["status"], ["retention", "run", "--dry-run"], ["check", "--only", "rls_disabled"]]
    ),
)
def test_fuzz_tool_dbops_tables(
    tmp_path_factory: pytest.TempPathFactory,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    top: dict[str, object],
    retention: dict[str, object],
    rule: dict[str, object],
    verb: list[str],
) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    toml = _table("tool.dbops", top) + _table("tool.dbops.retention", retention)
    toml += _table("tool.dbops.retention.quizzes", rule)
    _project_with(root, toml)
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli, ["--database-url", db.url, *verb], catch_exceptions=True)
    assert isinstance(result.exception, SystemExit | None), (toml, result.output, result.exception)
    assert (result.exit_code in EXIT_CODES and result.exit_code != 1) or verb[0] == "check", (
        toml,
        result.output,
    )
    assert "Traceback" not in result.output, (toml, result.output)
    assert "Error: unexpected" not in result.stderr, (toml, result.output)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.binary(max_size=200))
def test_fuzz_bytes_as_a_migration(
    tmp_path_factory: pytest.TempPathFactory, db: Database, body: bytes
) -> None:
    root = tmp_path_factory.mktemp("fuzzsql")
    migrations = root / "migrations"
    migrations.mkdir()
    (migrations / "0001_fuzz.sql").write_bytes(body)
    (migrations / "0001_fuzz.rollback.sql").write_text("select 1;\n")
    (root / "pyproject.toml").write_text("[tool.dbops]\n")
    result = CliRunner().invoke(
        cli, ["--database-url", db.url, "--migrations-dir", str(migrations), "migrate", "--dry-run"],
        catch_exceptions=True,
    )  # fmt: skip
    assert isinstance(result.exception, SystemExit | None), (body, result.output, result.exception)
    assert result.exit_code in {0, 2, 4}, (body, result.output)
    assert "Traceback" not in result.output and "Error: unexpected" not in result.stderr


_url_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
# found by this test: libpq ends the user info at the first '@' and quotes the password
@example(user="", secret=" ", tail="@", form=0, flags=[])
@given(user=_url_text, secret=_url_text, tail=_url_text, form=st.integers(0, 3),
       flags=st.sampled_from([[], ["--json"], ["-v"]]))  # fmt: skip
def test_fuzz_urls_never_print_the_password(
    user: str, secret: str, tail: str, form: int, flags: list[str]
) -> None:
    password = "Pw" + secret + "X9"
    url = [
        f"postgresql://{user}:{password}@127.0.0.1:1/{tail}",
        f"postgres://{user}:{password}@127.0.0.1:1{tail}",
        f"host=127.0.0.1 port=1 user={user!r} password={password} dbname={tail}",
        f"postgresql://{user}:{password}@/{tail}?host=127.0.0.1&port=1",
    ][form]
    result = CliRunner().invoke(cli, [*flags, "--database-url", url, "status"], catch_exceptions=True)
    assert isinstance(result.exception, SystemExit | None), (url, result.output, result.exception)
    assert result.exit_code in {2, 3}, (url, result.output)
    assert password not in result.output, (url, result.output)
    # the generic handler's line (not a traceback's `ProgrammingError: unexpected ...` under -v)
    assert not result.stderr.startswith("Error: unexpected"), (url, result.output)
    if not flags:
        assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("option", "url"),
    [
        ("--database-url", "postgresql://u:Zq7@Wk9@127.0.0.1:1/db"),  # libpq: host 'Wk9@127.0.0.1'
        ("--database-url", "postgresql://127.0.0.1:1/db?user=u&password=Zq7 Wk9"),
        ("--database-url", "postgresql://127.0.0.1:1/db?password=Zq7&Wk9xx"),
        ("--direct-url", "postgresql://u:Zq7@Wk9@127.0.0.1:1/db"),
    ],
)
@pytest.mark.parametrize("flags", [[], ["--json"], ["-v"]])
def test_no_piece_of_a_password_is_printed(option: str, url: str, flags: list[str]) -> None:
    """Pieces libpq reads as something else (a host, another query parameter) are still secret."""
    args = [*flags, option, url]
    if option == "--direct-url":
        args += ["--database-url", "postgresql://x@127.0.0.1:1/db"]
    result = CliRunner().invoke(cli, [*args, "migrate" if option == "--direct-url" else "status"])
    assert result.exit_code in {2, 3}, result.output
    assert "Zq7" not in result.output and "Wk9" not in result.output, result.output
