"""One vocabulary: each file-format rule is defined once, and `lint` and the runtime agree.

The same input goes through `dbops lint` and through the command that reads the file at
run time (`check`, `status`, `migrate`, `retention`), and both must accept it or both
refuse it with the same words.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Database
from tests.server import ROOT

GOOD_HEADER = {
    "id": "ok_check",
    "severity": "warn",
    "category": "integrity",
    "description": "A test check.",
    "remediation": "Nothing to do.",
}


def _check_file(directory: Path, **header: str | None) -> Path:
    fields = {**GOOD_HEADER, **header}
    lines = [f"-- {key}: {value}" for key, value in fields.items() if value is not None]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "one.sql"
    path.write_text(
        "\n".join(lines) + "\nselect 'x' as object, 'y' as detail where false;\n", encoding="utf-8"
    )
    return path


def _scratch_project(tmp_path: Path, pyproject: str = "[tool.dbops]\n") -> Path:
    (tmp_path / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    return tmp_path


BAD_HEADERS = [
    pytest.param({"id": "Bad-Id"}, "'Bad-Id'", id="id-pattern"),
    pytest.param({"category": "secuirty"}, "'secuirty'", id="category"),
    pytest.param({"severity": "fatal"}, "'fatal'", id="severity"),
    pytest.param({"requires": "superuzer"}, "'superuzer'", id="requires"),
    pytest.param({"remediation": None}, "-- remediation:", id="missing"),
]


@pytest.mark.parametrize(("header", "word"), BAD_HEADERS)
def test_a_bad_check_header_fails_lint_as_it_fails_check(
    header: dict[str, str | None], word: str, tmp_path: Path, db: Database, run_cli: Any, monkeypatch: Any
) -> None:
    project = _scratch_project(tmp_path)
    _check_file(project / "checks", **header)
    monkeypatch.chdir(project)

    linted = run_cli("--json", "lint", "--processes", "1", "checks")
    assert linted.exit_code == 1, linted.output
    (finding,) = [f for f in json.loads(linted.stdout)["findings"] if f["rule"] == "check-header"]
    assert finding["level"] == "error" and word in finding["message"]

    checked = run_cli("check", "--only", "ok_check", url=db.url)
    assert checked.exit_code == 2, checked.output
    error = next(line for line in checked.output.splitlines() if line.startswith("Error: "))
    # one definition: the runtime's error carries the very sentence lint reports
    assert error == f"Error: checks/one.sql: {finding['message']}"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"severity": "warning"}, id="severity-alias-warning"),
        pytest.param({"severity": "info"}, id="severity-info"),
        pytest.param({"requires": "read-tables, extension:vector, role:anon"}, id="requires"),
        pytest.param({"deep": "true"}, id="deep"),
    ],
)
def test_a_good_check_header_passes_both(
    header: dict[str, str], tmp_path: Path, db: Database, run_cli: Any, monkeypatch: Any
) -> None:
    project = _scratch_project(tmp_path)
    _check_file(project / "checks", **header)
    monkeypatch.chdir(project)
    linted = run_cli("--json", "lint", "--processes", "1", "checks")
    assert [f for f in json.loads(linted.stdout)["findings"] if f["rule"] == "check-header"] == []
    listed = run_cli("--json", "check", "--list", url=db.url)
    assert listed.exit_code == 0, listed.output
    assert "ok_check" in listed.stdout


def test_a_misnamed_migration_fails_lint_as_it_fails_status(
    project: Path, db: Database, run_cli: Any, monkeypatch: Any
) -> None:
    (project / "migrations" / "fix_users.sql").write_text("select 1;\n", encoding="utf-8")
    monkeypatch.chdir(project)
    linted = run_cli("--json", "lint", "--processes", "1", "migrations/fix_users.sql")
    assert linted.exit_code == 1, linted.output
    (finding,) = [f for f in json.loads(linted.stdout)["findings"] if f["rule"] == "migration-filename"]
    status = run_cli("status", url=db.url)
    assert status.exit_code == 2, status.output
    assert f"Error: migrations/fix_users.sql: {finding['message']}" in status.output


# --- durations -------------------------------------------------------------------------

DURATIONS = {
    "250ms": timedelta(milliseconds=250),
    "30s": timedelta(seconds=30),
    "30m": timedelta(minutes=30),
    "12h": timedelta(hours=12),
    "7d": timedelta(days=7),
    "1w": timedelta(weeks=1),
    "90 days": timedelta(days=90),
    "2min": timedelta(minutes=2),
    "1.5h": timedelta(minutes=90),
}
BAD_DURATIONS = ("3 fortnights", "1mo", "-5s", "", "5 s s", "1y")


@pytest.mark.parametrize(("text", "expected"), DURATIONS.items())
def test_one_duration_grammar(text: str, expected: timedelta) -> None:
    from ops.vocabulary import parse_duration

    assert parse_duration(text, "x") == expected


@pytest.mark.parametrize("text", BAD_DURATIONS)
def test_one_duration_grammar_refuses(text: str) -> None:
    from ops.errors import ConfigError
    from ops.vocabulary import parse_duration

    with pytest.raises(ConfigError) as caught:
        parse_duration(text, "x")
    assert "250ms, 30s, 30m, 12h, 7d or 1w" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("", "lock_timeout"),
        ("", "lock_wait"),
        (".retention", "batch_time"),
        (".retention", "max_runtime"),
        (".retention.quizzes", "older_than"),
        (".checks", "statement_timeout"),
    ],
)
@pytest.mark.parametrize("value", ["1w", "30m", "3 fortnights"])
def test_config_durations_read_alike_in_lint_and_at_run_time(
    table: str, key: str, value: str, tmp_path: Path, db: Database, run_cli: Any, monkeypatch: Any
) -> None:
    project = _scratch_project(tmp_path, f'[tool.dbops{table}]\n{key} = "{value}"\n')
    shutil.copytree(ROOT / "migrations", project / "migrations")
    shutil.copytree(ROOT / "checks", project / "checks")
    monkeypatch.chdir(project)
    ok = value != "3 fortnights"
    linted = run_cli("lint", "--processes", "1", "--fail-on", "error", "migrations/0001_core_schema.sql")
    runtime_verb = {
        ".retention": ["retention", "run", "--dry-run"],
        ".retention.quizzes": ["archive", "quizzes", "--dry-run"],
        ".checks": ["check", "--only", "extension_in_public"],
    }.get(table, ["status"])
    ran = run_cli(*runtime_verb, url=db.url)
    if ok:
        assert "Error" not in linted.output and linted.exit_code == 0, linted.output
        assert ran.exit_code == 0, ran.output
    else:
        for result in (linted, ran):
            assert result.exit_code == 2, result.output
            assert "cannot read '3 fortnights' as a duration" in result.output
            assert "Hint: write it like 250ms, 30s, 30m, 12h, 7d or 1w" in result.output


@pytest.mark.parametrize("value", ["250ms", "1w", "30m", "20"])
def test_duration_flags_use_the_same_grammar(value: str, db: Database, run_cli: Any) -> None:
    assert run_cli("--lock-wait", value, "status", url=db.url).exit_code == 0
    ran = run_cli("retention", "run", "--dry-run", "--max-runtime", value, url=db.url)
    assert ran.exit_code in (0, 6), ran.output
    ran = run_cli("archive", "quizzes", "--older-than", value, "--dry-run", url=db.url)
    assert ran.exit_code in (0, 6), ran.output


def test_duration_flags_refuse_with_one_hint(db: Database, run_cli: Any) -> None:
    for argv in (
        ["--lock-wait", "soon", "status"],
        ["retention", "run", "--dry-run", "--max-runtime", "soon"],
        ["archive", "quizzes", "--older-than", "soon", "--dry-run"],
    ):
        result = run_cli(*argv, url=db.url)
        assert result.exit_code == 2, (argv, result.output)
        assert "cannot read 'soon' as a duration" in result.output
        assert "Hint: write it like 250ms, 30s, 30m, 12h, 7d or 1w" in result.output


# --- timestamps ------------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now-7d", NOW - timedelta(days=7)),
        ("now - 12h", NOW - timedelta(hours=12)),
        ("now", NOW),
        ("7d", NOW - timedelta(days=7)),  # an age, as `--since 7d` always read
        ("2026-01-31T12:00:00Z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31T12:00:00+02:00", datetime(2026, 1, 31, 10, tzinfo=UTC)),
        ("2026-01-31 12:00", datetime(2026, 1, 31, 12, tzinfo=UTC)),
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
    ],
)
def test_one_timestamp_grammar(text: str, expected: datetime) -> None:
    from ops.vocabulary import parse_timestamp

    assert parse_timestamp(text, "--since", now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "now+7d", "2026-13-01", "now-soon"])
def test_one_timestamp_grammar_refuses(text: str) -> None:
    from ops.errors import ConfigError
    from ops.vocabulary import parse_timestamp

    with pytest.raises(ConfigError) as caught:
        parse_timestamp(text, "--since", now=NOW)
    assert "2026-01-31T12:00:00Z, 2026-01-31 12:00 or now-7d" in (caught.value.hint or "")


def test_archive_restore_reads_now_minus(db: Database, run_cli: Any) -> None:
    result = run_cli("archive", "restore", "quizzes", "--since", "now-7d", "--dry-run", url=db.url)
    assert result.exit_code == 0, result.output
    bad = run_cli("archive", "restore", "quizzes", "--since", "yesterday", "--dry-run", url=db.url)
    assert bad.exit_code == 2
    assert "Hint: write it like 2026-01-31T12:00:00Z, 2026-01-31 12:00 or now-7d" in bad.output


# --- severities and --fail-on ----------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "fails"),
    [
        ("error", False),
        ("warning", True),  # the one word for both commands
        ("warn", True),  # check's old word, still accepted
        ("info", True),
        ("note", True),  # lint's old word, still accepted
        ("none", False),
        ("never", False),  # lint's old word, still accepted
    ],
)
def test_check_and_lint_take_the_same_fail_on_words(
    word: str, fails: bool, db: Database, run_cli: Any, monkeypatch: Any
) -> None:
    checked = run_cli("check", "--only", "extension_in_public", "--fail-on", word, url=db.url)
    assert checked.exit_code == (1 if fails else 0), checked.output
    monkeypatch.chdir(ROOT)
    warnings_only = "tests/fixtures/lint/migration_no_depends"
    linted = run_cli("lint", "--processes", "1", "--fail-on", word, warnings_only)
    assert linted.exit_code == (1 if fails else 0), linted.output


def test_fail_on_in_config_takes_the_same_words(
    tmp_path: Path, db: Database, run_cli: Any, monkeypatch: Any
) -> None:
    project = _scratch_project(
        tmp_path, '[tool.dbops.checks]\nfail_on = "warning"\n[tool.dbops.lint]\nfail_on = "warn"\n'
    )
    shutil.copytree(ROOT / "checks", project / "checks")
    monkeypatch.chdir(project)
    checked = run_cli("check", "--only", "extension_in_public", url=db.url)
    assert checked.exit_code == 1, checked.output
    (project / "pyproject.toml").write_text('[tool.dbops.checks]\nfail_on = "fatal"\n', encoding="utf-8")
    refused = run_cli("check", "--only", "extension_in_public", url=db.url)
    assert refused.exit_code == 2
    assert "Hint: use one of error, warning, info, none" in refused.output


def test_fail_on_help_names_one_vocabulary(run_cli: Any) -> None:
    for verb in ("check", "lint"):
        assert "[error|warning|info|none]" in run_cli(verb, "--help").output


# --- migrate --to NUMBER, global options after the verb --------------------------------


@pytest.mark.parametrize("ref", ["3", "03", "0003", "0003_users_rls"])
def test_migrate_to_resolves_a_number(ref: str, empty_db: Database, run_cli: Any) -> None:
    result = run_cli("migrate", "--to", ref, url=empty_db.url)
    assert result.exit_code == 0, result.output
    applied = empty_db.scalar("select count(*) from _yoyo_migration")
    assert applied == 3


def test_migrate_to_an_unknown_number_names_the_range(empty_db: Database, run_cli: Any) -> None:
    result = run_cli("migrate", "--to", "99", url=empty_db.url)
    assert result.exit_code == 2
    assert "Error: unknown migration '99'" in result.output
    assert empty_db.scalar("select to_regclass('_yoyo_migration')") is None


def test_global_options_after_the_verb(db: Database, run_cli: Any, monkeypatch: Any) -> None:
    status = run_cli("status", "--json", url=db.url)
    assert status.exit_code == 0, status.output
    json.loads(status.stdout)
    checked = run_cli("check", "--only", "extension_in_public", "--json", url=db.url)
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["results"][0]["check"] == "extension_in_public"
    at_end = run_cli("status", "--database-url", db.url)
    assert at_end.exit_code == 0, at_end.output
    quiet = run_cli("rollback", "--steps", "1", "--yes", "-q", url=db.url)
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == ""
    monkeypatch.chdir(ROOT)
    linted = run_cli("lint", "--json", "--processes", "1", "checks/constraint_not_valid.sql")
    assert linted.exit_code == 0, linted.output
    assert json.loads(linted.stdout)["findings"] == []
    nested = run_cli("backup", "list", "--json", "--dir", str(ROOT / "tests" / "no-such-backups"))
    assert nested.exit_code == 0, nested.output
    json.loads(nested.stdout)
