"""Real processes against one database: parallel runs, and a run killed mid-migration."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Database
from tests.server import MIGRATION_COUNT

pytestmark = pytest.mark.slow


def _dbops(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ops", "--database-url", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_eight_concurrent_migrates_apply_each_migration_once(empty_db: Database) -> None:
    procs = [_dbops(empty_db.url, "migrate") for _ in range(8)]
    results = [(p.communicate(timeout=120)[1], p.returncode) for p in procs]
    assert [code for _, code in results] == [0] * 8, results
    applied = empty_db.conn.execute(
        "select migration_id, count(*) from _yoyo_log where operation = 'apply' group by 1 order by 1"
    ).fetchall()
    assert len(applied) == MIGRATION_COUNT and all(count == 1 for _, count in applied)
    assert empty_db.scalar("select count(*) from _yoyo_migration") == MIGRATION_COUNT


def test_kill_9_mid_migration_then_plain_rerun(project: Path, db: Database) -> None:
    migrations = project / "migrations"
    (migrations / "0013_slow.sql").write_text(
        "-- depends: 0012_archive_owner_indexes\n"
        "create table slow_marker (id int);\n"
        "select pg_sleep(case when current_setting('dbops_test.slow', true) = 'on' then 60 else 0 end);\n"
    )
    (migrations / "0013_slow.rollback.sql").write_text("drop table slow_marker;\n")
    proc = _dbops(
        db.url, "--migrations-dir", str(migrations), "migrate", env={"PGOPTIONS": "-c dbops_test.slow=on"}
    )
    deadline = time.monotonic() + 30
    while not db.scalar(
        "select count(*) from pg_stat_activity where query like '%pg_sleep%' "
        "and application_name = 'dbops' and state = 'active'"
    ):
        assert time.monotonic() < deadline, "the slow migration never started"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    rerun = _dbops(db.url, "--migrations-dir", str(migrations), "--lock-wait", "15", "migrate")
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert db.scalar("select count(*) from _yoyo_migration where migration_id = '0013_slow'") == 1
    assert db.scalar("select to_regclass('slow_marker') is not null")
