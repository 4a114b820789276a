"""kill -9 at random points of real `dbops` processes, then reruns; and two overlapping cron runs.

After every kill the database must hold each original row exactly once, unchanged, in its
source or in its archive (content checksums), with only eligible rows gone or moved; the
final rerun must finish the job.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

import pytest

from tests.conftest import Database
from tests.retention_data import (
    ARCHIVED_TABLES,
    assert_moved_exactly,
    assert_units_whole,
    checksums,
    eligible_archive,
    fill_archivable,
    fill_plan_cache,
    snapshot_archive,
)
from tests.server import ROOT

KILLS = 20


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DBOPS_", "PG")) and k != "DATABASE_URL"}


def _start(db: Database, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ops", "--database-url", db.url, "--json", *args],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_backends_to_end(db: Database) -> None:
    """A killed client's server backend ends (and its transaction rolls back) on its own."""
    deadline = time.monotonic() + 10
    while db.scalar(
        "select count(*) from pg_stat_activity"
        " where datname = current_database() and application_name = 'dbops' and pid <> pg_backend_pid()"
    ):
        assert time.monotonic() < deadline, "a killed run's backend is still there"
        time.sleep(0.02)


def _kill_during_work(db: Database, rng: random.Random, *args: str) -> bool:
    """Start a run, let it commit a first batch, SIGKILL it a random moment later."""
    proc = _start(db, *args)
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        if not first:
            return False
        time.sleep(rng.uniform(0.0, 0.08))
        landed = proc.poll() is None
        proc.kill()
        return landed
    finally:
        proc.kill()
        proc.communicate()
        _wait_for_backends_to_end(db)


def _finish(db: Database, *args: str) -> None:
    proc = _start(db, *args)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err


@pytest.mark.slow
def test_kill_9_during_eviction_loses_and_touches_nothing(db: Database) -> None:
    rng = random.Random(6)
    expired = fill_plan_cache(db.conn, 30_000)
    original = checksums(db.conn, "public", "plan_cache")
    landed = 0
    for _ in range(KILLS):
        landed += _kill_during_work(db, rng, "evict", "--batch-size", "10")
        now = checksums(db.conn, "public", "plan_cache")
        assert {k: original[k] for k in now} == now, "a remaining row changed"
        assert set(original) - set(now) <= expired, "a live row was deleted"
    assert landed == KILLS
    assert 0 < db.scalar("select count(*) from plan_cache where expires_at < now()") < len(expired)
    _finish(db, "evict")
    assert checksums(db.conn, "public", "plan_cache") == {
        k: v for k, v in original.items() if k not in expired
    }


@pytest.mark.slow
def test_kill_9_during_archival_loses_and_duplicates_nothing(db: Database) -> None:
    rng = random.Random(60)
    # enough rows of each rule that 7 kills of batches of 2 cannot finish any table
    fill_archivable(db.conn, sessions=700, groups=200, chats=3000)
    original = {t: checksums(db.conn, "public", t) for t in ARCHIVED_TABLES}
    eligible = eligible_archive(db.conn)
    landed = 0
    for i in range(KILLS):
        rule = ("quizzes", "tutor_chats", "sessions")[i % 3]
        landed += _kill_during_work(db, rng, "archive", rule, "--batch-size", "2")
        assert_moved_exactly(original, eligible, snapshot_archive(db.conn), complete=False)
        assert_units_whole(db.conn)
    assert landed == KILLS
    for table in ("quizzes", "tutor_chats", "study_sessions"):
        assert 0 < len(checksums(db.conn, "archive", table)) < len(eligible[table]), table
    _finish(db, "archive")
    assert_moved_exactly(original, eligible, snapshot_archive(db.conn), complete=True)
    assert_units_whole(db.conn)


@pytest.mark.slow
def test_two_overlapping_cron_runs_one_works_the_other_exits_5(db: Database) -> None:
    fill_plan_cache(db.conn, 6000)
    first = _start(db, "retention", "run", "--batch-size", "5")
    try:
        assert first.stdout is not None and '"event": "batch"' in first.stdout.readline()
        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "ops", "--database-url", db.url, "retention", "run"],
            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        assert first.poll() is None, "the first run ended before the second started"
    finally:
        out, err = first.communicate(timeout=120)
    assert second.returncode == 5, second.stdout + second.stderr
    assert second.stderr.startswith("Error: another run holds the retention lock: pid ")
    assert "dbops" in second.stderr
    assert elapsed < 10  # python start-up included; the lock itself is not waited for
    assert first.returncode == 0, out + err
    assert db.scalar("select count(*) from plan_cache where expires_at < now()") == 0
