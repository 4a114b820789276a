"""One lock model for all jobs: a migration never runs while a job relies on a column list it
could change, and jobs that only read the schema still run side by side.

The race of finding 1: a migration adds a column to quizzes and archive.quizzes and
backfills it while `dbops archive quizzes` runs. Failpoints choose the moment; in both
orders of arrival no archived or live row may end with the new column NULL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Database
from tests.processes import Dbops
from tests.retention_data import fill_archivable
from tests.server import HEAD

pytestmark = pytest.mark.slow

ADD_AND_BACKFILL = (
    f"-- depends: {HEAD}\n"
    "alter table quizzes add column grade text;\n"
    "alter table archive.quizzes add column grade text;\n"
    "update quizzes set grade = 'g-' || id;\n"
    "update archive.quizzes set grade = 'g-' || id;\n"
)


def _migration(project: Path) -> str:
    (project / "migrations" / "9001_grade.sql").write_text(ADD_AND_BACKFILL)
    (project / "migrations" / "9001_grade.rollback.sql").write_text(
        "alter table archive.quizzes drop column grade;\nalter table quizzes drop column grade;\n"
    )
    return str(project / "migrations")


def _no_value_lost(db: Database) -> None:
    assert db.scalar("select count(*) from archive.quizzes") > 0, "nothing was archived"
    assert db.scalar("select count(*) from quizzes where grade is distinct from 'g-' || id") == 0
    assert db.scalar("select count(*) from archive.quizzes where grade is distinct from 'g-' || id") == 0
    assert db.scalar("select count(*) from quizzes as q join archive.quizzes as a using (id)") == 0


def test_migration_arriving_while_archive_runs_waits_for_it(project: Path, db: Database) -> None:
    fill_archivable(db.conn, groups=40)
    migrations = _migration(project)
    archive = Dbops.start(db.url, "archive", "quizzes", "--batch-size", "5",
                          failpoints="retention.batch.start=2")  # fmt: skip
    assert archive.stopped_at() == "retention.batch.start"  # one batch done, the column list in use
    migrate = Dbops.start(db.url, "--migrations-dir", migrations, "--lock-wait", "120", "migrate",
                          failpoints="locks.wait")  # fmt: skip
    try:
        # the migration must wait for the archive run, not change the table under it
        assert migrate.stopped_at() == "locks.wait", migrate.stderr_lines
        migrate.resume()
        archive.resume()
        code, out, err = archive.finish()
        assert code == 0, out + err
        code, out, err = migrate.finish()
        assert code == 0, out + err
    finally:
        for run in (archive, migrate):
            if run.proc.poll() is None:
                run.kill()
    _no_value_lost(db)


def test_archive_arriving_while_a_migration_runs_answers_busy(project: Path, db: Database) -> None:
    fill_archivable(db.conn, groups=40)
    migrations = _migration(project)
    migrate = Dbops.start(db.url, "--migrations-dir", migrations, "migrate",
                          failpoints="migrate.before_commit")  # fmt: skip
    archive = None
    try:
        assert migrate.stopped_at() == "migrate.before_commit"  # DDL done, not yet committed
        archive = Dbops.start(db.url, "archive", "quizzes", "--batch-size", "5",
                              failpoints="retention.batch.start")  # fmt: skip
        if archive.stopped_at() is not None:  # it read its column list and would go on with it
            migrate.resume()
            assert migrate.finish()[0] == 0
            archive.resume()
            archive.finish()
            _no_value_lost(db)
        code, out, err = archive.ended()
        assert code == 5, out + err
        assert "migrat" in err and "Hint:" in err
        migrate.resume()
        code, out, err = migrate.finish()
        assert code == 0, out + err
    finally:
        for run in (archive, migrate):
            if run is not None and run.proc.poll() is None:
                run.kill()
    code, out, err = Dbops.start(db.url, "archive", "quizzes").finish()
    assert code == 0, out + err
    _no_value_lost(db)


def test_jobs_that_read_the_schema_run_side_by_side(db: Database) -> None:
    fill_archivable(db.conn, groups=40)
    archive = Dbops.start(db.url, "archive", "quizzes", "--batch-size", "5",
                          failpoints="retention.batch.start=2")  # fmt: skip
    try:
        assert archive.stopped_at() == "retention.batch.start"
        code, out, err = Dbops.start(db.url, "check", "--only", "rls_disabled").finish()
        assert code == 0, out + err
        archive.resume()
        assert archive.finish()[0] == 0
    finally:
        if archive.proc.poll() is None:
            archive.kill()
