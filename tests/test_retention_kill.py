"""kill -9 at chosen points of real `dbops` processes, then reruns; and two overlapping cron runs.

Each kill lands at a failpoint (tests/processes.py) drawn at random, with a seed: before a
batch, inside a batch's transaction before its commit, or after the commit, at the N-th
batch. After every kill the database must hold each original row exactly once, unchanged,
in its source or in its archive (content checksums), with only eligible rows gone or
moved; the final rerun must finish the job.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.conftest import Database
from tests.processes import Dbops
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

KILLS = 20
# a rule moves its rows in one statement per batch (autocommit), or unit by unit in a transaction
ONE_STATEMENT_POINTS = ("retention.batch.start", "retention.batch.committed")
UNIT_POINTS = (*ONE_STATEMENT_POINTS, "retention.batch.uncommitted")


def _wait_for_backends_to_end(db: Database) -> None:
    """A killed client's server backend ends (and its transaction rolls back) on its own."""
    deadline = time.monotonic() + 60  # a hang guard: the server notices within a second
    while db.scalar(
        "select count(*) from pg_stat_activity"
        " where datname = current_database() and application_name = 'dbops' and pid <> pg_backend_pid()"
    ):
        assert time.monotonic() < deadline, "a killed run's backend is still there"
        time.sleep(0.02)


def _kill_at(db: Database, point: str, *args: str) -> None:
    """Run until the failpoint, SIGKILL it there; fail if the run ended before reaching it."""
    run = Dbops.start(db.url, "--json", *args, failpoints=point)
    try:
        assert run.stopped_at() == point.partition("=")[0], f"{args} ended before {point}"
    finally:
        run.kill()
        _wait_for_backends_to_end(db)


def _draw(rng: random.Random, points: tuple[str, ...]) -> str:
    return f"{rng.choice(points)}={rng.randint(1, 4)}"


def _finish(db: Database, *args: str) -> None:
    code, out, err = Dbops.start(db.url, "--json", *args).finish()
    assert code == 0, out + err


@pytest.mark.slow
def test_kill_9_during_eviction_loses_and_touches_nothing(db: Database) -> None:
    rng = random.Random(6)
    expired = fill_plan_cache(db.conn, 30_000)
    original = checksums(db.conn, "public", "plan_cache")
    for _ in range(KILLS):
        _kill_at(db, _draw(rng, ONE_STATEMENT_POINTS), "evict", "--batch-size", "10")
        now = checksums(db.conn, "public", "plan_cache")
        assert {k: original[k] for k in now} == now, "a remaining row changed"
        assert set(original) - set(now) <= expired, "a live row was deleted"
    assert 0 < db.scalar("select count(*) from plan_cache where expires_at < now()") < len(expired)
    _finish(db, "evict")
    assert checksums(db.conn, "public", "plan_cache") == {
        k: v for k, v in original.items() if k not in expired
    }


@pytest.mark.slow
def test_kill_9_during_archival_loses_and_duplicates_nothing(db: Database) -> None:
    rng = random.Random(60)
    # enough rows of each rule that 7 kills of at most 4 batches of 2 cannot finish any table
    fill_archivable(db.conn, sessions=700, groups=200, chats=3000)
    original = {t: checksums(db.conn, "public", t) for t in ARCHIVED_TABLES}
    eligible = eligible_archive(db.conn)
    for i in range(KILLS):
        rule = ("quizzes", "tutor_chats", "sessions")[i % 3]
        points = UNIT_POINTS if rule == "sessions" else ONE_STATEMENT_POINTS
        _kill_at(db, _draw(rng, points), "archive", rule, "--batch-size", "2")
        assert_moved_exactly(original, eligible, snapshot_archive(db.conn), complete=False)
        assert_units_whole(db.conn)
    for table in ("quizzes", "tutor_chats", "study_sessions"):
        assert 0 < len(checksums(db.conn, "archive", table)) < len(eligible[table]), table
    _finish(db, "archive")
    assert_moved_exactly(original, eligible, snapshot_archive(db.conn), complete=True)
    assert_units_whole(db.conn)


@pytest.mark.slow
def test_kill_9_before_the_metrics_write_keeps_the_old_file_whole(db: Database, tmp_path: Path) -> None:
    metrics = tmp_path / "retention.prom"
    fill_plan_cache(db.conn, 100)
    _finish(db, "retention", "run", "--metrics-file", str(metrics))
    before = metrics.read_text()
    assert "dbops_retention_last_run_success 1.0\n" in before
    _kill_at(db, "retention.metrics.write", "retention", "run", "--metrics-file", str(metrics))
    assert metrics.read_text() == before
    assert list(tmp_path.iterdir()) == [metrics]


@pytest.mark.slow
def test_two_overlapping_cron_runs_one_works_the_other_exits_5(db: Database) -> None:
    fill_plan_cache(db.conn, 6000)
    # the first run stops after its first batch, holding the retention lock
    first = Dbops.start(
        db.url, "retention", "run", "--batch-size", "5", failpoints="retention.batch.committed"
    )
    try:
        assert first.stopped_at() == "retention.batch.committed"
        # the lock is not waited for: were it, this would hang while the first run is stopped
        second, out, err = Dbops.start(db.url, "retention", "run").finish()
    finally:
        first.resume()
        code, first_out, first_err = first.finish()
    assert second == 5, out + err
    assert err.startswith("Error: another run holds the retention lock: pid ")
    assert "dbops" in err
    assert code == 0, first_out + first_err
    assert db.scalar("select count(*) from plan_cache where expires_at < now()") == 0
