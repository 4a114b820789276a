"""Feedback on long steps: progress on stderr when it is a terminal, nothing extra when it is
not (cron), and a migrate waiting for another run's lock names the holder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ops.locks import NAMESPACE, JobFamily
from tests.conftest import Database
from tests.processes import Dbops
from tests.retention_data import fill_plan_cache
from tests.terminal import run_on_terminal


def _hold_migrate_lock(url: str) -> psycopg.Connection[Any]:
    holder = psycopg.connect(url, autocommit=True, application_name="dba at psql")
    holder.execute("select pg_advisory_lock(%s, %s)", (NAMESPACE, int(JobFamily.MIGRATE)))
    return holder


def test_a_waiting_migrate_names_the_holder_once_and_goes_on_when_it_is_free(db: Database) -> None:
    with _hold_migrate_lock(db.url) as holder:
        pid = holder.info.backend_pid
        run = Dbops.start(db.url, "migrate", "--lock-wait", "2m")
        line = run.line_with("waiting for")
    code, _, stderr = run.finish()
    assert code == 0, stderr
    assert line.startswith(f"dbops: waiting for pid {pid} (dba at psql, "), line
    assert "which holds the migrate lock; giving up after 120s (--lock-wait)" in line
    assert [x for x in stderr.splitlines() if "waiting" in x] == [line.rstrip("\n")]
    assert "\x1b" not in stderr  # not a terminal: one plain line, no spinner


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "cron"])
def test_the_waiting_line_shows_with_and_without_a_terminal(db: Database, terminal: bool) -> None:
    with _hold_migrate_lock(db.url) as holder:
        shown = run_on_terminal(
            "migrate", "--lock-wait", "2s", url=db.url, stdout_tty=False, stderr_tty=terminal
        )
        quiet = run_on_terminal(
            "-q", "migrate", "--lock-wait", "2s", url=db.url, stdout_tty=False, stderr_tty=terminal
        )
        pid = holder.info.backend_pid
    assert shown.exit_code == quiet.exit_code == 5, shown.stderr
    assert f"dbops: waiting for pid {pid} (dba at psql, " in shown.stderr
    # -q: the error alone
    assert quiet.stderr.startswith("Error: another run holds the migrate lock"), quiet.stderr
    assert ("waiting for the migrate lock" in shown.stderr) is terminal  # the spinner's line
    assert f"Error: another run holds the migrate lock: pid {pid}" in shown.stderr


def _steps(shown: str, *descriptions: str) -> list[str]:
    return [d for d in descriptions if d not in shown]


def test_verify_and_sample_data_show_progress_on_a_terminal_only(db: Database) -> None:
    on_terminal = run_on_terminal("verify", url=db.url, stdout_tty=False, stderr_tty=True)
    piped = run_on_terminal("verify", url=db.url, stdout_tty=False, stderr_tty=False)
    assert on_terminal.exit_code == piped.exit_code == 0, piped.stderr
    assert _steps(on_terminal.stderr, "migrations up, down and up again") == []
    assert piped.stderr == ""
    assert on_terminal.stdout == piped.stdout  # the result is the same; only stderr differs

    sample = ("sample-data", "--users", "30", "--dry-run")
    on_terminal = run_on_terminal(*sample, url=db.url, stdout_tty=False, stderr_tty=True)
    piped = run_on_terminal(*sample, url=db.url, stdout_tty=False, stderr_tty=False)
    assert on_terminal.exit_code == piped.exit_code == 0, piped.stderr
    assert _steps(on_terminal.stderr, "loading sample data of 30 users") == []
    assert piped.stderr == ""
    quiet = run_on_terminal("--json", *sample, url=db.url, stdout_tty=False, stderr_tty=True)
    assert quiet.exit_code == 0 and quiet.stderr == ""  # --json: no progress even on a terminal
    assert json.loads(quiet.stdout)["users"] == 30


def test_backup_verify_restore_and_restore_show_progress_on_a_terminal_only(
    db: Database, empty_db: Database, run_cli: Any, tmp_path: Path
) -> None:
    taken = run_on_terminal("backup", "--dir", str(tmp_path), url=db.url, stdout_tty=False, stderr_tty=True)
    assert taken.exit_code == 0, taken.stderr
    assert "pg_dump" in taken.stderr  # a bar of its tables
    (backup,) = [p.name for p in tmp_path.iterdir()]
    verify = ("backup", "verify", backup, "--restore", "--dir", str(tmp_path))
    on_terminal = run_on_terminal(*verify, url=db.url, stdout_tty=False, stderr_tty=True)
    piped = run_on_terminal(*verify, url=db.url, stdout_tty=False, stderr_tty=False)
    assert on_terminal.exit_code == piped.exit_code, (on_terminal.stderr, piped.stderr)
    assert (
        _steps(
            on_terminal.stderr,
            f"checking {backup} against its manifest",
            "pg_restore into a scratch database",
            "running the checks on the restored copy",
        )
        == []
    )
    assert piped.stderr == ""

    restore = ("restore", backup, "--dir", str(tmp_path), "--target-url", empty_db.url, "--yes")
    on_terminal = run_on_terminal(*restore, url=db.url, stdout_tty=False, stderr_tty=True)
    assert on_terminal.exit_code == 0, on_terminal.stderr
    assert _steps(on_terminal.stderr, f"checking {backup} against its manifest", "pg_restore into ") == []
    again = ("restore", backup, "--dir", str(tmp_path), "--target-url", empty_db.url, "--clean", "--yes")
    piped = run_on_terminal(*again, url=db.url, stdout_tty=False, stderr_tty=False)
    assert piped.exit_code == 0 and piped.stderr == "", piped.stderr


def test_retention_bars_are_on_a_terminals_stderr_and_leave_stdout_the_result(db: Database) -> None:
    fill_plan_cache(db.conn, 40)
    on_terminal = run_on_terminal("retention", "run", url=db.url, stdout_tty=False, stderr_tty=True)
    assert on_terminal.exit_code == 0, on_terminal.stderr
    assert _steps(on_terminal.stderr, "plan_cache (deleted)") == []
    assert "plan_cache (deleted)" not in on_terminal.stdout  # stdout: the summary only
    db.conn.execute("delete from plan_cache")
    fill_plan_cache(db.conn, 40)
    piped = run_on_terminal("retention", "run", url=db.url, stdout_tty=False, stderr_tty=False)
    assert piped.exit_code == 0 and piped.stderr == ""  # cron: no bars, no noise
    assert on_terminal.stdout.splitlines()[0] == piped.stdout.splitlines()[0]
