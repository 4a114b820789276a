"""The migration engine's guarantees, each with a test that fails without it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ops import migrations
from ops.config import Settings
from ops.deploy import deploy, undeploy
from ops.errors import Busy, ConfigError, OperationFailed
from ops.locks import NAMESPACE, JobFamily
from ops.migrations import catalog
from tests.conftest import Database
from tests.server import HEAD, MIGRATION_COUNT, ROOT


def _write(project: Path, name: str, sql: str, rollback: str | None = "select 1;") -> None:
    (project / "migrations" / f"{name}.sql").write_text(f"-- depends: {HEAD}\n{sql}")
    if rollback is not None:
        (project / "migrations" / f"{name}.rollback.sql").write_text(rollback)


def _applied(db: Database) -> list[str]:
    return [r[0] for r in db.conn.execute("select migration_id from _yoyo_migration order by 1").fetchall()]


def test_up_down_up_leaves_the_catalog_of_a_single_migrate(empty_db: Database, db: Database) -> None:
    settings = empty_db.settings()
    blank = catalog.snapshot(empty_db.conn)
    deploy(empty_db.conn, settings)
    once = catalog.snapshot(empty_db.conn)
    assert catalog.diff(catalog.snapshot(db.conn), once) == []
    notes = undeploy(empty_db.conn, settings, everything=True).notes
    assert notes == (
        "policies: withdrew 28 policies of 12 managed tables for the rollback",
        'policies: put back "Allow public insert to users" on public.users, which the rollback drops',
        'policies: put back "Allow public select to users" on public.users, which the rollback drops',
        "policies: re-applied 0 of 12 files after the rollback",
    )
    assert catalog.diff(blank, catalog.snapshot(empty_db.conn)) == []
    assert _applied(empty_db) == []
    # the tables come back with the seed's policies: migrate re-applies policies/ over them
    deploy(empty_db.conn, settings)
    assert catalog.diff(once, catalog.snapshot(empty_db.conn)) == []


def test_migrate_to_and_rollback_steps(empty_db: Database) -> None:
    settings = empty_db.settings()
    report = migrations.migrate(empty_db.conn, settings, to="0003")
    assert [s.id for s in report.steps] == ["0001_core_schema", "0002_session_context", "0003_users_rls"]
    back = migrations.rollback(empty_db.conn, settings, steps=2)
    assert [s.id for s in back.steps] == ["0003_users_rls", "0002_session_context"]
    assert _applied(empty_db) == ["0001_core_schema"]
    migrations.migrate(empty_db.conn, settings)
    migrations.rollback(empty_db.conn, settings, to="0009")
    assert _applied(empty_db)[-1] == "0009_roles"


def test_history_rows_commit_with_the_migration(project: Path, db: Database) -> None:
    """If writing the history fails, the migration's own effects are rolled back with it."""
    _write(project, "0013_widget", "create table widget (id int);", "drop table widget;")
    db.conn.execute(
        "create function refuse() returns trigger language plpgsql as "
        "$$ begin raise exception 'history is read-only'; end $$;"
        "create trigger refuse before insert on _yoyo_migration for each row execute function refuse()"
    )
    with pytest.raises(OperationFailed, match="writing the migration history failed: history is read-only"):
        migrations.migrate(db.conn, db.settings(migrations_dir=str(project / "migrations")))
    assert db.scalar("select to_regclass('widget')") is None
    assert db.scalar("select count(*) from dbops.migration_checksum where migration_id = '0013_widget'") == 0


def test_syntax_error_names_file_and_line_and_keeps_earlier_ones(project: Path, empty_db: Database) -> None:
    (project / "migrations" / "0013_broken.sql").write_text(
        f"-- depends: {HEAD}\ncreate table half_done (id int);\n\nselect 1;\nselect frobnicate from;\n"
    )
    (project / "migrations" / "0013_broken.rollback.sql").write_text("drop table half_done;\n")
    with pytest.raises(OperationFailed) as caught:
        migrations.migrate(empty_db.conn, empty_db.settings(migrations_dir=str(project / "migrations")))
    assert caught.value.message.endswith('/migrations/0013_broken.sql:5: syntax error at or near ";"')
    assert "fix the file" in (caught.value.hint or "")
    assert empty_db.scalar("select to_regclass('half_done')") is None
    assert _applied(empty_db)[-1] == HEAD and len(_applied(empty_db)) == MIGRATION_COUNT


def test_runtime_error_line_inside_a_multiline_statement(project: Path, db: Database) -> None:
    _write(project, "0013_typo", "create table t (\n  id int,\n  x no_such_type\n);\n")
    with pytest.raises(OperationFailed, match=r"0013_typo.sql:4: type \"no_such_type\" does not exist"):
        migrations.migrate(db.conn, db.settings(migrations_dir=str(project / "migrations")))


def test_missing_rollback_file_is_refused_before_anything_runs(project: Path, db: Database) -> None:
    _write(project, "0013_oneway", "create table oneway (id int);", rollback=None)
    with pytest.raises(ConfigError, match="0013_oneway.sql has no rollback file"):
        migrations.migrate(db.conn, db.settings(migrations_dir=str(project / "migrations")))
    assert db.scalar("select to_regclass('oneway')") is None


def test_edited_file_is_refused_and_cosmetic_edit_reported(project: Path, db: Database) -> None:
    settings = db.settings(migrations_dir=str(project / "migrations"))
    path = project / "migrations" / "0003_users_rls.sql"
    original = path.read_text()
    path.write_text("-- a note added later\n" + original + "\n\n")
    report = migrations.status(db.conn, settings)
    row = next(m for m in report.migrations if m.id == "0003_users_rls")
    assert (row.state, row.note) == ("applied", "comments or whitespace changed since applied")
    assert migrations.migrate(db.conn, settings).notes == (
        "0003_users_rls: comments or whitespace changed since applied",
    )

    path.write_text(original.replace("add column name text unique", "add column name varchar(80) unique"))
    row = next(m for m in migrations.status(db.conn, settings).migrations if m.id == "0003_users_rls")
    assert row.state == "edited"
    with pytest.raises(ConfigError, match="migration 0003_users_rls was edited after it was applied") as c:
        migrations.migrate(db.conn, settings)
    assert "dbops mark --rehash 0003_users_rls" in (c.value.hint or "")
    migrations.mark(db.conn, settings, ["0003"], rehash=True)
    assert not migrations.status(db.conn, settings).needs_attention


def test_missing_file_is_reported(project: Path, db: Database) -> None:
    (project / "migrations" / f"{HEAD}.sql").unlink()
    (project / "migrations" / f"{HEAD}.rollback.sql").unlink()
    report = migrations.status(db.conn, db.settings(migrations_dir=str(project / "migrations")))
    assert report.migrations[-1].state == "missing-file"
    assert report.needs_attention


@pytest.fixture
def touches_users(project: Path, db: Database) -> Settings:
    """A pending migration that needs a lock on users, with a 100 ms lock_timeout."""
    _write(
        project,
        "0013_touch_users",
        "alter table users add column nickname text;",
        "alter table users drop column nickname;",
    )
    return db.settings(migrations_dir=str(project / "migrations"), lock_timeout="100ms")


def test_lock_timeout_is_retried_then_gives_up(touches_users: Settings, db: Database) -> None:
    settings = touches_users
    with psycopg.connect(db.url) as blocker:
        blocker.execute("lock table users in access share mode")
        with pytest.raises(OperationFailed, match=r"no lock within 100 ms after 4 tries"):
            migrations.migrate(db.conn, settings)
    assert (
        db.scalar(
            "select count(*) from pg_attribute where attrelid = 'users'::regclass and attname = 'nickname'"
        )
        == 0
    )


def test_lock_timeout_retry_succeeds_when_the_blocker_ends(touches_users: Settings, db: Database) -> None:
    settings = touches_users
    blocker = psycopg.connect(db.url)
    blocker.execute("lock table users in access share mode")
    threading.Timer(0.4, blocker.close).start()
    report = migrations.migrate(db.conn, settings)
    assert [s.id for s in report.steps] == ["0013_touch_users"]


def test_invalid_index_from_a_failed_concurrent_build_is_rebuilt(empty_db: Database) -> None:
    settings = empty_db.settings()
    migrations.migrate(empty_db.conn, settings, to="0007")
    empty_db.conn.execute(
        "insert into quizzes (user_id, topic_id, questions, created_at) "
        "values ('u', 't', '[]', '2026-01-01'), ('u', 't', '[]', '2026-01-01')"
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        empty_db.conn.execute(
            "create unique index concurrently idx_quizzes_user_topic_created "
            "on quizzes (user_id, topic_id, created_at desc)"
        )
    assert (
        empty_db.scalar(
            "select indisvalid from pg_index where indexrelid = 'idx_quizzes_user_topic_created'::regclass"
        )
        is False
    )
    report = migrations.migrate(empty_db.conn, settings)
    step = next(s for s in report.steps if s.id == "0008_access_indexes")
    assert "dropped invalid index" in step.note
    row = empty_db.conn.execute(
        "select indisvalid, indisunique from pg_index "
        "where indexrelid = 'idx_quizzes_user_topic_created'::regclass"
    ).fetchone()
    assert row == (True, False)


def test_non_transactional_migration_reruns_after_partial_failure(empty_db: Database) -> None:
    """0008 stopped half-way (an index built, history not written) finishes on the rerun."""
    settings = empty_db.settings()
    migrations.migrate(empty_db.conn, settings, to="0007")
    empty_db.conn.execute("create index concurrently idx_plan_cache_expires_at on plan_cache (expires_at)")
    migrations.migrate(empty_db.conn, settings)
    assert _applied(empty_db)[-1] == HEAD


def test_dry_run_changes_nothing_and_shows_sql(empty_db: Database) -> None:
    before = catalog.snapshot(empty_db.conn)
    report = migrations.migrate(empty_db.conn, empty_db.settings(), dry_run=True)
    assert report.dry_run and len(report.steps) == MIGRATION_COUNT
    assert any("create table users" in s for s in report.steps[0].sql)
    assert report.steps[7].note.startswith("not executed in a dry run")
    assert catalog.diff(before, catalog.snapshot(empty_db.conn)) == []
    assert empty_db.scalar("select to_regclass('_yoyo_migration')") is None


def test_dry_run_reports_a_broken_migration(project: Path, db: Database) -> None:
    _write(project, "0013_broken", "select frobnicate from;")
    with pytest.raises(OperationFailed, match="0013_broken.sql:2"):
        migrations.migrate(db.conn, db.settings(migrations_dir=str(project / "migrations")), dry_run=True)


def test_busy_lock_names_its_holder(db: Database) -> None:
    with psycopg.connect(db.url, application_name="colleague") as other:
        other.execute("select pg_advisory_lock(%s, %s)", (NAMESPACE, int(JobFamily.MIGRATE)))
        with pytest.raises(Busy) as caught:
            migrations.migrate(db.conn, db.settings(lock_wait="0"))
    assert "another run holds the migrate lock: pid" in caught.value.message
    assert "colleague" in caught.value.message
    assert "--lock-wait" in (caught.value.hint or "")


def test_lock_wait_waits_for_the_holder(db: Database) -> None:
    other = psycopg.connect(db.url)
    other.execute("select pg_advisory_lock(%s, %s)", (NAMESPACE, int(JobFamily.MIGRATE)))
    threading.Timer(0.3, other.close).start()
    started = time.monotonic()
    migrations.migrate(db.conn, db.settings(lock_wait="10"))
    assert time.monotonic() - started >= 0.25


def test_stale_yoyo_lock_row_does_not_block(db: Database) -> None:
    db.conn.execute(
        "create table yoyo_lock (locked int default 1, ctime timestamp, pid int not null, "
        "primary key (locked))"
    )
    db.conn.execute("insert into yoyo_lock (ctime, pid) values (now(), 2147483000)")
    report = migrations.migrate(db.conn, db.settings())
    assert report.notes == ("cleared yoyo lock rows of ended processes: [2147483000]",)
    assert db.scalar("select count(*) from yoyo_lock") == 0


def test_mark_and_unmark_baseline_without_running(empty_db: Database) -> None:
    settings = empty_db.settings()
    migrations.mark(empty_db.conn, settings, ["0001", "0002"])
    assert empty_db.scalar("select to_regclass('users')") is None
    assert _applied(empty_db) == ["0001_core_schema", "0002_session_context"]
    migrations.unmark(empty_db.conn, settings, ["0002"])
    assert _applied(empty_db) == ["0001_core_schema"]
    log = empty_db.conn.execute("select operation from _yoyo_log order by created_at_utc").fetchall()
    assert [r[0] for r in log] == ["mark", "mark", "unmark"]


def test_yoyo_history_stays_readable_by_yoyo(db: Database) -> None:
    from yoyo import get_backend, read_migrations

    from tests.server import ROOT

    backend = get_backend(
        db.url.replace("postgresql://", "postgresql+psycopg://", 1)
        if db.url.startswith("postgresql://")
        else _yoyo_url(db)
    )
    migrations = read_migrations(str(ROOT / "migrations"))
    assert len(backend.to_apply(migrations)) == 0
    backend.connection.close()


def _yoyo_url(db: Database) -> str:
    from psycopg.conninfo import conninfo_to_dict

    parts: dict[str, Any] = conninfo_to_dict(db.url)
    return (
        f"postgresql+psycopg://{parts['user']}@/{parts['dbname']}?host={parts['host']}&port={parts['port']}"
    )


def test_json_report_is_plain_data(db: Database) -> None:
    from ops.cli._context import jsonable

    data = jsonable(migrations.status(db.conn, db.settings()))
    assert json.loads(json.dumps(data))["head"] == HEAD
    assert data["needs_attention"] is False


def test_a_checksum_of_the_previous_normaliser_is_accepted_and_re_recorded(db: Database) -> None:
    import hashlib

    from ops.sqltext import legacy_normalize

    path = ROOT / "migrations" / "0003_users_rls.sql"
    legacy = hashlib.sha256(legacy_normalize(path.read_text()).encode()).hexdigest()
    current = migrations.read_migration(path).normalized_sha256
    assert legacy != current
    db.conn.execute(
        "update dbops.migration_checksum set normalized_sha256 = %s, sha256 = 'older bytes'"
        " where migration_id = '0003_users_rls'",
        (legacy,),
    )  # as a database migrated by an earlier dbops, with a cosmetic edit since
    (row,) = [m for m in migrations.status(db.conn, db.settings()).migrations if m.id == "0003_users_rls"]
    assert (row.state, row.note) == ("applied", "comments or whitespace changed since applied")
    report = migrations.migrate(db.conn, db.settings())
    assert "re-recorded the comment-free checksums of 1 applied migrations" in report.notes
    recorded = db.scalar(
        "select normalized_sha256 from dbops.migration_checksum where migration_id = '0003_users_rls'"
    )
    assert recorded == current
