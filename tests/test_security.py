"""Security where the capabilities meet: chosen ids, archived rows, anon and backup files.

Each test reproduces one way an attacker got through (issue 13's findings 1-4) and shows
it refused. The application's statements run on a connection of a LOGIN role that is no
superuser and has no BYPASSRLS (tests/rls_matrix.py's tester), switching to the API roles
per transaction as the application does; the operator's setup runs as the test server's
superuser.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import errors as pgerrors
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ops.queries.rls import acting_as
from tests import rls_matrix as m
from tests.conftest import SERVER, Database
from tests.retention_data import fill_archivable

# Columns the server fills in; the API roles may neither choose them nor change them.
SERVER_OWNED = {
    "users": ("id", "created_at"),
    "study_sessions": ("id", "created_at", "updated_at"),
    "topics": ("id",),
    "misconceptions": ("id", "detected_at"),
    "tutor_chats": ("id", "last_updated"),
    "quizzes": ("id", "created_at"),
    "plan_cache": ("id", "created_at"),
}
OLD = "2001-02-03 04:05:06+00"


@pytest.fixture
def tester(db: Database) -> Iterator[psycopg.Connection[Any]]:
    """The test database as a LOGIN role with no superuser, no BYPASSRLS, owning nothing."""
    with psycopg.connect(SERVER.url("postgres"), autocommit=True) as maint:
        password = m.ensure_tester(maint)
    url = make_conninfo(db.url, user=m.TESTER, password=password)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select rolsuper, rolbypassrls from pg_roles where rolname = current_user"
        ).fetchone()
        assert row == (False, False)
        yield conn


def add_user(db: Database, name: str) -> UUID:
    return UUID(str(db.scalar("insert into users (name) values (%s) returning id", (name,))))


def refused(
    conn: psycopg.Connection[Any], user: UUID | None, role: str, query: Any, params: Any = None
) -> str:
    """Run `query` as the caller; it must fail with a privilege error. Returns the message."""
    with acting_as(conn, user, role):
        try:
            with conn.transaction():
                conn.execute(query, params)
        except pgerrors.InsufficientPrivilege as exc:
            return exc.diag.message_primary or ""
    raise AssertionError(f"{role} ran {query!r}")


def bypassing_triggers(db: Database, query: str, params: Any = None) -> None:
    """The operator writes a row as a restore from an old backup might: no trigger runs."""
    with db.conn.transaction():
        db.conn.execute("set local session_replication_role = replica")
        db.conn.execute(query.encode(), params)


# -- finding 1: chosen ids and timestamps ------------------------------------------------


@pytest.mark.parametrize(("table", "column"), [(t, c) for t, cols in SERVER_OWNED.items() for c in cols])
def test_api_roles_cannot_choose_or_change_a_server_owned_column(
    db: Database, tester: psycopg.Connection[Any], table: str, column: str
) -> None:
    a = add_user(db, "alice")
    value: Any = uuid4() if column == "id" else OLD
    ident = sql.Identifier(column)
    insert = sql.SQL("insert into {} ({}) values (%s)").format(sql.Identifier("public", table), ident)
    update = sql.SQL("update {} set {} = %s").format(sql.Identifier("public", table), ident)
    for role in ("authenticated", "anon"):
        assert "permission denied" in refused(tester, a, role, insert, (value,))
        assert "permission denied" in refused(tester, a, role, update, (value,))


def test_the_application_writes_without_naming_server_owned_columns(
    db: Database, tester: psycopg.Connection[Any]
) -> None:
    """The positive control: the same caller inserts and updates its rows, the server fills in
    the id and the timestamps, and an update moves updated_at / last_updated forward."""
    from ops import queries as q

    me = q.login(tester, "alice")
    sid = q.start_session(tester, me, "GRE")
    db.conn.execute("update study_sessions set updated_at = %s where id = %s", (OLD, sid))
    q.log_action(tester, me, sid, "planner_called", {})
    assert db.scalar("select updated_at > now() - interval '1 minute' from study_sessions") is True
    (topic,) = q.add_topics(tester, me, sid, ["algebra"])
    q.save_chat(tester, me, topic.id, [{"role": "user", "content": "why?"}], "")
    db.conn.execute("update tutor_chats set last_updated = %s", (OLD,))
    q.append_chat_messages(tester, me, topic.id, [{"role": "user", "content": "and?"}])
    assert db.scalar("select last_updated > now() - interval '1 minute' from tutor_chats") is True
    quiz = q.save_quiz(tester, me, topic.id, [{"question": "?", "options": ["a"], "correct_answer": 0}])
    assert db.scalar("select created_at > now() - interval '1 minute' from quizzes where id = %s", (quiz.id,))


def test_a_live_row_never_takes_an_archived_id(db: Database) -> None:
    """Whoever inserts it (here the superuser, who has every column privilege)."""
    fill_archivable(db.conn)
    archived = db.scalar(
        "with m as (delete from quizzes where created_at < now() - interval '100 days' returning *)"
        " insert into archive.quizzes select * from m returning id"
    )
    with pytest.raises(
        pgerrors.UniqueViolation, match=f"id {archived} of public.quizzes is already in archive"
    ):
        db.conn.execute(
            "insert into quizzes (id, user_id, topic_id, questions) values (%s, 'u', 't', '[]')", (archived,)
        )
    live = db.scalar("select id from quizzes limit 1")
    with pytest.raises(pgerrors.UniqueViolation, match="already in archive.quizzes"):
        db.conn.execute("update quizzes set id = %s where id = %s", (archived, live))


def test_retention_skips_a_unit_that_cannot_move_and_runs_every_rule(
    db: Database, run_cli: Any, tmp_path: Path
) -> None:
    """An id live and archived at once (planted as the attack left it before the fix): the
    quiz stays, is named, every other quiz and every other rule still run, exit 6."""
    fill_archivable(db.conn)
    planted = str(db.scalar("select id from quizzes order by created_at limit 1"))
    db.conn.execute(
        "insert into archive.quizzes select *, now() - interval '1 day' from quizzes where id = %s",
        (planted,),
    )
    eligible = int(db.scalar("select count(*) from quizzes where created_at < now() - interval '90 days'"))
    metrics = tmp_path / "retention.prom"
    result = run_cli("retention", "run", "--metrics-file", str(metrics), url=db.url)
    assert result.exit_code == 6, result.output
    assert f"Skipped: quizzes: quizzes {planted} could not move: duplicate key value" in result.stderr
    assert "1 unit(s) could not move" in result.stderr
    text = metrics.read_text()
    assert 'dbops_retention_skipped_units{rule="quizzes"} 1' in text
    assert 'dbops_retention_skipped_units{rule="sessions"} 0' in text
    assert "dbops_retention_last_run_exit_code 6" in text
    assert db.scalar("select count(*) from quizzes where id = %s", (planted,)) == 1
    kept_newest = eligible - int(db.scalar("select count(*) from archive.quizzes")) + 1
    assert (
        db.scalar("select count(*) from quizzes where created_at < now() - interval '90 days'") == kept_newest
    )
    assert db.scalar("select count(*) from archive.tutor_chats") > 0
    assert db.scalar("select count(*) from archive.study_sessions") > 0
    assert db.scalar("select count(*) from archive.topics") > 0


def test_restore_lists_conflicts_and_refuses_unless_told_to_skip_them(db: Database, run_cli: Any) -> None:
    fill_archivable(db.conn)
    assert run_cli("archive", "tutor_chats", url=db.url).exit_code == 0
    archived = int(db.scalar("select count(*) from archive.tutor_chats"))
    assert archived > 1
    taken = str(db.scalar("select id from archive.tutor_chats order by id limit 1"))
    bypassing_triggers(
        db, "insert into tutor_chats (id, user_id, topic_id, explanation) values (%s, 'x', 'y', '')", (taken,)
    )
    result = run_cli("archive", "restore", "tutor_chats", "--since", "1h", url=db.url)
    assert result.exit_code == 4, result.output
    assert result.stderr.startswith(
        "Error: retention.tutor_chats: 1 archived row(s) cannot go back, their id is live again: "
        f"public.tutor_chats {taken}; nothing was restored"
    )
    assert "--skip-conflicts" in result.stderr
    assert db.scalar("select count(*) from archive.tutor_chats") == archived
    result = run_cli("archive", "restore", "tutor_chats", "--since", "1h", "--skip-conflicts", url=db.url)
    assert result.exit_code == 6, result.output
    assert f"Skipped: tutor_chats: tutor_chats {taken} could not move" in result.stderr
    assert db.scalar("select array_agg(id::text) from archive.tutor_chats") == [taken]


# -- finding 2: archived rows stay with the user who owned them ----------------------------


def test_archived_topics_stay_with_the_user_who_owned_them(
    db: Database, tester: psycopg.Connection[Any]
) -> None:
    a, b = add_user(db, "alice"), add_user(db, "bob")
    session, topic = uuid4(), uuid4()
    db.conn.execute(
        "insert into archive.study_sessions (id, user_id, exam_type, current_state)"
        " values (%s, %s, 'GRE', 'COMPLETED')",
        (session, b),
    )
    db.conn.execute(
        "insert into archive.topics (id, session_id, name, mastery_score) values (%s, %s, 'secret', 90)",
        (topic, session),
    )  # fmt: skip
    insert = "insert into study_sessions (id, user_id, exam_type) values (%s, %s, 'GRE')"
    assert "permission denied" in refused(tester, a, "authenticated", insert, (session, a))
    # however the live id came back (an operator's import), the archive does not follow it
    bypassing_triggers(db, insert, (session, a))
    with acting_as(tester, a):
        assert tester.execute("select count(*) from archive.topics").fetchone() == (0,)
    with acting_as(tester, b):
        assert tester.execute("select name from archive.topics").fetchall() == [("secret",)]


# -- finding 3: anon --------------------------------------------------------------------


def test_anon_executes_nothing_and_reads_nothing(db: Database, tester: psycopg.Connection[Any]) -> None:
    a = add_user(db, "alice")
    for role in ("anon", "authenticated"):
        assert "permission denied" in refused(tester, a, role, "select app.login('alice')")
    assert "permission denied" in refused(tester, None, "anon", "select app.current_user_id()")
    assert "permission denied" in refused(tester, None, "anon", "select public.vector_dims('[1,2]')")
    tables = db.conn.execute(
        "select format('%I.%I', schemaname, tablename) from pg_tables"
        " where schemaname in ('public', 'app', 'archive') order by 1"
    ).fetchall()
    assert len(tables) >= 12
    for (table,) in tables:
        assert "permission denied" in refused(tester, None, "anon", f"select from {table}")
    reachable = db.scalar(
        "select count(*) from pg_proc as p inner join pg_namespace as n on p.pronamespace = n.oid"
        " where n.nspname not in ('pg_catalog', 'information_schema')"
        " and has_function_privilege('anon', p.oid, 'EXECUTE')"
        " and has_schema_privilege('anon', n.oid, 'USAGE')"
    )
    assert reachable == 0
    with acting_as(tester, None, "service_role"):  # the backend's login, server-side
        assert tester.execute("select app.login('alice')").fetchone() == (a,)


# -- finding 4: backup files ------------------------------------------------------------


def modes(folder: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        found[path.relative_to(folder).as_posix()] = stat.S_IMODE(path.stat().st_mode)
    return found


@pytest.mark.parametrize("dump_format", ["custom", "directory"])
def test_backup_files_are_private_whatever_the_umask(
    db: Database, empty_db: Database, tmp_path: Path, run_cli: Any, dump_format: str
) -> None:
    from ops.backup import BackupRequest, run_backup

    where = tmp_path / "nested" / "backups"
    previous = os.umask(0o002)
    try:
        result = run_backup(db.url, BackupRequest(where, dump_format=dump_format))
    finally:
        os.umask(previous)
    folder = Path(result.path)
    found = modes(folder)
    assert found.pop(".") == 0o700
    assert "manifest.json" in found
    wrong = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (folder / name).is_dir() else 0o600)
    }
    assert wrong == {}
    assert stat.S_IMODE(where.stat().st_mode) == 0o700
    assert stat.S_IMODE(where.parent.stat().st_mode) == 0o700
    restored = run_cli("restore", folder.name, "--dir", str(where), "--target-url", empty_db.url)
    assert restored.exit_code == 0, restored.output


def test_check_reports_backup_files_others_can_read(db: Database, tmp_path: Path) -> None:
    from dataclasses import replace

    from tests.checkhelp import objects

    where = tmp_path / "backups"
    settings = replace(db.settings(), tool={**db.settings().tool, "backup_dir": str(where)})
    assert objects(db, "backup_files_not_private", settings=settings) == []  # no directory yet
    (where / "b1").mkdir(parents=True, mode=0o700)
    (where / "b1" / "dump.pgdump").write_bytes(b"x")
    (where / "b1" / "dump.pgdump").chmod(0o600)
    assert objects(db, "backup_files_not_private", settings=settings) == []
    (where / "b1" / "manifest.json").write_text("{}")
    (where / "b1" / "manifest.json").chmod(0o644)
    (where / "b2").mkdir(mode=0o755)
    (where / "b2").chmod(0o755)
    found = objects(db, "backup_files_not_private", settings=settings)
    assert found == [str(where / "b1" / "manifest.json"), str(where / "b2")]
