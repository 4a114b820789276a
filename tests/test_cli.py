"""The command line: exit codes, exact messages, help for every verb, no secrets shown."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from ops.cli import COMMANDS, cli
from tests.conftest import SERVER, Database
from tests.server import HEAD, MIGRATION_COUNT, ROOT


def _no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output
    assert "Traceback" not in (result.stderr or "")


def _verbs() -> list[list[str]]:
    verbs: list[list[str]] = []
    for name in COMMANDS:
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        sub = getattr(command, "commands", None)
        verbs.append([name])
        verbs += [[name, s] for s in sub or {}]
    return verbs


@pytest.mark.parametrize("verb", _verbs(), ids=" ".join)
def test_every_verb_has_help(run_cli, verb: list[str]) -> None:
    result = run_cli(*verb, "--help")
    assert result.exit_code == 0
    assert result.output.startswith("Usage: ")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_one_help_text_per_command(run_cli, name: str) -> None:
    """`dbops X --help` starts with the line `dbops --help` lists for X, not a second wording."""
    summary = COMMANDS[name][2]
    listed = run_cli("--help").output
    assert f"  {name}" in listed and summary in " ".join(listed.split())
    own = run_cli(name, "--help").output.split("\n\n")[1]
    assert " ".join(own.split()) == summary


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for verb in _verbs():
        assert f"dbops {' '.join(verb)}" in readme or f"dbops {verb[0]} " in readme, verb


def test_top_level_help_lists_commands_without_importing_the_library(run_cli) -> None:
    code = (
        "import sys; from ops.cli import main; sys.argv=['dbops','--help']\n"
        "try: main()\nexcept SystemExit: pass\n"
        "print(sorted(m for m in ('psycopg','yoyo','rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]")
    assert "migrate" in out


def test_status_and_json(run_cli, db: Database) -> None:
    result = run_cli("status", url=db.url)
    assert result.exit_code == 0
    assert result.output.strip().endswith(f"{MIGRATION_COUNT} applied; head: {HEAD}")
    data = json.loads(run_cli("--json", "status", url=db.url).output)
    assert data["head"] == HEAD and len(data["migrations"]) == MIGRATION_COUNT


def test_status_exit_code_with_pending(run_cli, empty_db: Database) -> None:
    assert run_cli("status", "--exit-code", url=empty_db.url).exit_code == 1
    assert run_cli("migrate", url=empty_db.url).exit_code == 0
    assert run_cli("status", "--exit-code", url=empty_db.url).exit_code == 0


def test_migrate_prints_what_it_applied(run_cli, empty_db: Database) -> None:
    result = run_cli("migrate", "--to", "0002", url=empty_db.url)
    assert result.exit_code == 0
    assert re.findall(r"^applied (\S+)", result.output, re.M) == ["0001_core_schema", "0002_session_context"]
    assert run_cli("migrate", "--to", "0002", url=empty_db.url).output == (
        "note: --to 0002: 0002_session_context\n"  # the number, resolved to the id it names
        f"note: policies not applied: {MIGRATION_COUNT - 2} migration(s) pending; "
        "`dbops migrate` applies them\nnothing to do\n"
    )


def test_unknown_revision_exits_2(run_cli, db: Database) -> None:
    result = run_cli("migrate", "--to", "9999", url=db.url)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: unknown migration '9999' (migrations here: 0001 to {HEAD[:4]})",
        "Hint: run `dbops status` to list migration ids",
    ]
    _no_traceback(result)


def test_unreachable_server_exits_3_without_the_password(run_cli) -> None:
    result = run_cli("status", url="postgresql://bob:Hunter2secret@127.0.0.1:1/app")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: cannot connect to bob@127.0.0.1:1/app: ")
    assert "Hint: check that the server at 127.0.0.1:1 is running and the URL is right" in result.stderr
    assert "Hunter2secret" not in result.output
    _no_traceback(result)


@pytest.fixture
def password_role(db: Database) -> Iterator[str]:
    """A role that must authenticate with a password (scram) on the embedded test server;
    afterwards pg_hba.conf is as it was and the role is gone."""
    if not SERVER.embedded:
        pytest.skip("needs the embedded server's pg_hba.conf")
    hba = Path(db.scalar("show hba_file"))
    original = hba.read_text()
    hba.write_text("local all dbops_pw_probe scram-sha-256\n" + original)
    db.conn.execute("select pg_reload_conf()")
    db.conn.execute("drop role if exists dbops_pw_probe")  # left by a run that was killed
    db.conn.execute("create role dbops_pw_probe login password 'right-Secret-1'")
    try:
        yield f"postgresql://dbops_pw_probe:wrong-Secret-9@/postgres?host={SERVER.host}&port={SERVER.port}"
    finally:
        hba.write_text(original)
        db.conn.execute("select pg_reload_conf()")
        db.conn.execute("drop role dbops_pw_probe")


def test_wrong_password_exits_3_without_the_password(run_cli, password_role: str) -> None:
    result = run_cli("status", url=password_role)
    assert result.exit_code == 3
    assert "password authentication failed" in result.stderr
    assert "Hint: check the user and password" in result.stderr
    assert "wrong-Secret-9" not in result.output
    _no_traceback(result)


def test_json_errors_are_machine_readable(run_cli) -> None:
    result = run_cli("--json", "status", url="postgresql://bob:pw@127.0.0.1:1/app")
    data = json.loads(result.stdout)
    assert data["exit_code"] == 3 and data["error"].startswith("cannot connect")


def test_syntax_error_exits_4_with_file_and_line(run_cli, project: Path, db: Database) -> None:
    (project / "migrations" / "0013_broken.sql").write_text(
        "-- depends: 0012_archive_owner_indexes\n\nselec 1;\n"
    )
    (project / "migrations" / "0013_broken.rollback.sql").write_text("")
    result = run_cli("--migrations-dir", str(project / "migrations"), "migrate", url=db.url)
    assert result.exit_code == 4
    assert re.match(r'Error: \S+/0013_broken.sql:3: syntax error at or near "selec"\n', result.stderr)
    _no_traceback(result)


def test_edited_migration_exits_2_and_status_exit_code_1(run_cli, project: Path, db: Database) -> None:
    path = project / "migrations" / "0002_session_context.sql"
    path.write_text(path.read_text().replace("24 hours", "12 hours"))
    args = ("--migrations-dir", str(project / "migrations"))
    assert run_cli(*args, "status", "--exit-code", url=db.url).exit_code == 1
    result = run_cli(*args, "migrate", url=db.url)
    assert result.exit_code == 2
    assert (
        "Hint: restore the file from version control, or accept the edit with "
        "`dbops mark --rehash 0002_session_context`" in result.stderr
    )


def test_rollback_needs_yes_off_a_terminal(run_cli, db: Database) -> None:
    result = run_cli("rollback", "--steps", "1", url=db.url)
    assert result.exit_code == 2
    assert "Hint: pass --yes (or --dry-run to only look)" in result.stderr
    assert db.scalar("select count(*) from _yoyo_migration") == MIGRATION_COUNT
    dry = run_cli("rollback", "--steps", "1", "--dry-run", url=db.url)
    assert dry.exit_code == 0 and f"-- would rollback {HEAD}" in dry.output
    head_rollback = (ROOT / "migrations" / f"{HEAD}.rollback.sql").read_text().strip().splitlines()[-1]
    assert head_rollback in dry.output
    assert db.scalar("select count(*) from _yoyo_migration") == MIGRATION_COUNT
    done = run_cli("rollback", "--steps", "1", "--yes", url=db.url)
    assert done.exit_code == 0 and done.output.startswith(f"rolled back {HEAD}")
    assert db.scalar("select count(*) from _yoyo_migration") == MIGRATION_COUNT - 1


def test_rollback_without_a_target_is_a_usage_error(run_cli, db: Database) -> None:
    result = run_cli("rollback", "--yes", url=db.url)
    assert result.exit_code == 2
    assert "pass exactly one of --steps N, --to ID or --all" in result.stderr


def test_busy_exits_5(run_cli, db: Database) -> None:
    import psycopg

    from ops.locks import NAMESPACE

    with psycopg.connect(db.url, application_name="nightly-job") as other:
        other.execute("select pg_advisory_lock(%s, 1)", (NAMESPACE,))
        result = run_cli("--lock-wait", "0", "migrate", url=db.url)
        unlock = run_cli("unlock", url=db.url)
    assert result.exit_code == 5
    assert (
        "Error: another run holds the migrate lock: pid" in result.stderr and "nightly-job" in result.stderr
    )
    assert unlock.exit_code == 0 and "nightly-job" in unlock.output


def test_verify_passes_on_the_shipped_history(run_cli, db: Database) -> None:
    result = run_cli("verify", url=db.url)
    assert result.exit_code == 0, result.output
    assert result.output.count("ok  ") == MIGRATION_COUNT


def test_verify_finds_a_rollback_that_forgets_something(run_cli, project: Path, db: Database) -> None:
    rollback = project / "migrations" / "0002_session_context.rollback.sql"
    rollback.write_text("drop table plan_cache;\nalter table study_sessions drop column agent_history;\n")
    result = run_cli("--migrations-dir", str(project / "migrations"), "verify", url=db.url)
    assert result.exit_code == 1
    assert (
        "FAIL 0002_session_context: rollback does not restore the schema: column "
        "public.study_sessions.current_context: not before the migration"
    ) in result.output


def test_verify_reports_a_migration_that_needs_a_later_one(run_cli, project: Path, db: Database) -> None:
    migrations = project / "migrations"
    early, late = (f"{int(HEAD[:4]) + n:04d}" for n in (1, 2))
    (migrations / f"{early}_use_later.sql").write_text(
        f"-- depends: {HEAD}\ncreate index idx_later on later_table (id);\n"
    )
    (migrations / f"{early}_use_later.rollback.sql").write_text("drop index idx_later;\n")
    (migrations / f"{late}_later_table.sql").write_text(
        f"-- depends: {early}_use_later\ncreate table later_table (id int);\n"
    )
    (migrations / f"{late}_later_table.rollback.sql").write_text("drop table later_table;\n")
    result = run_cli("--migrations-dir", str(migrations), "verify", url=db.url)
    assert result.exit_code == 1
    assert re.search(
        rf"FAIL {early}_use_later: fails on a fresh database: \S*{early}_use_later.sql:2: "
        r'relation "later_table" does not exist',
        result.output,
    )


def test_new_creates_linked_files(run_cli, project: Path) -> None:
    result = run_cli("--migrations-dir", str(project / "migrations"), "new", "add_nickname")
    assert result.exit_code == 0
    number = f"{int(HEAD[:4]) + 1:04d}"
    made = project / "migrations" / f"{number}_add_nickname.sql"
    assert made.read_text().startswith(f"-- depends: {HEAD}")
    assert (project / "migrations" / f"{number}_add_nickname.rollback.sql").exists()


def test_mark_unmark_cli(run_cli, empty_db: Database) -> None:
    assert run_cli("mark", "0001", url=empty_db.url).output == "marked 0001_core_schema\n"
    assert run_cli("unmark", "0001", url=empty_db.url).output == "unmarked 0001_core_schema\n"
    assert run_cli("unmark", "0001", url=empty_db.url).exit_code == 2


def test_real_subprocess_run(db: Database) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ops", "--database-url", db.url, "--json", "status"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["head"] == HEAD


@pytest.mark.parametrize("verb", [["status"], ["check", "--list"]])
def test_a_reader_that_left_ends_the_run_silently_with_141(db: Database, verb: list[str]) -> None:
    """`dbops status | head -1`: the pipe is closed before dbops writes (so the write surely
    fails); no `Error: Broken pipe` with a disk-full hint, and not exit 4 ("rolled back")."""
    import os

    from tests.processes import clean_env

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ops", "--database-url", db.url, *verb],
            stdout=write_end, stderr=subprocess.PIPE, text=True, env=clean_env(), cwd=ROOT, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.parametrize("url", ["not a url", "postgresql://x@127.0.0.1:1/db?bogusopt=1"])
def test_a_url_libpq_cannot_read_is_a_usage_error_on_one_line(run_cli, url: str) -> None:
    result = run_cli("status", url=url)
    assert result.exit_code == 2, result.output
    error = [line for line in result.stderr.splitlines() if not line.startswith("Hint: ")]
    assert len(error) == 1 and error[0].startswith("Error: invalid connection string: "), result.stderr
