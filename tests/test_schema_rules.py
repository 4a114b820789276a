"""The seed's validation rules and constraints, at the head of the migration history."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.conftest import Database
from tests.server import ROOT

PHASES = ("INTAKE", "PLANNING", "LEARNING", "QUIZZING", "ANALYZING", "COMPLETED")


def _user(db: Database, name: str | None = None) -> Any:
    return db.scalar("insert into users (name) values (%s) returning id", (name or uuid.uuid4().hex,))


def _session(db: Database, user_id: Any, state: str = "INTAKE") -> Any:
    return db.scalar(
        "insert into study_sessions (user_id, exam_type, current_state) values (%s, 'JEE', %s) returning id",
        (user_id, state),
    )


def _topic(db: Database, session_id: Any, score: int = 0) -> Any:
    return db.scalar(
        "insert into topics (session_id, name, mastery_score) values (%s, 'Kinematics', %s) returning id",
        (session_id, score),
    )


def _fails(db: Database, error: type[psycopg.Error], query: str, params: Any = None) -> None:
    with pytest.raises(error), db.conn.transaction():
        db.conn.execute(query, params)


NOT_NULL = [
    ("study_sessions", "exam_type"),
    ("study_sessions", "current_state"),
    ("topics", "name"),
    ("misconceptions", "description"),
    ("tutor_chats", "messages"),
    ("tutor_chats", "explanation"),
    ("quizzes", "questions"),
]


@pytest.mark.parametrize(("table", "column"), NOT_NULL)
def test_not_null_rules(db: Database, table: str, column: str) -> None:
    assert db.scalar(
        "select attnotnull from pg_attribute where attrelid = %s::regclass and attname = %s",
        (table, column),
    )
    user = _user(db)
    session = _session(db, user)
    topic = _topic(db, session)
    valid = {
        "study_sessions": (
            "insert into study_sessions (user_id, exam_type, current_state) values (%(u)s, %(v)s, %(w)s)",
            {"v": "JEE", "w": "INTAKE"},
        ),
        "topics": ("insert into topics (session_id, name) values (%(s)s, %(v)s)", {"v": "Optics"}),
        "misconceptions": (
            "insert into misconceptions (user_id, topic_id, description) values (%(u)s, %(t)s, %(v)s)",
            {"v": "sign error"},
        ),
        "tutor_chats": (
            "insert into tutor_chats (user_id, topic_id, messages, explanation) "
            "values (%(u)s::text, %(t)s::text, %(v)s, %(w)s)",
            {"v": "[]", "w": "why"},
        ),
        "quizzes": (
            "insert into quizzes (user_id, topic_id, questions) values (%(u)s::text, %(t)s::text, %(v)s)",
            {"v": "[]"},
        ),
    }
    query, values = valid[table]
    params = {"u": user, "s": session, "t": topic, **values}
    with db.conn.transaction(force_rollback=True):
        db.conn.execute(query, params)  # quiet: a complete row is accepted
    key = "v" if column in ("exam_type", "name", "description", "messages", "questions") else "w"
    if table == "study_sessions" and column == "current_state":
        key = "w"
    _fails(db, errors.NotNullViolation, query, {**params, key: None})


@pytest.mark.parametrize("state", PHASES)
def test_every_phase_is_a_valid_state(db: Database, state: str) -> None:
    assert _session(db, _user(db), state)


@pytest.mark.parametrize("state", ["intake", "DONE", ""])
def test_unknown_state_is_refused(db: Database, state: str) -> None:
    _fails(
        db,
        errors.CheckViolation,
        "insert into study_sessions (user_id, exam_type, current_state) values (%s, 'JEE', %s)",
        (_user(db), state),
    )


@pytest.mark.parametrize(("score", "ok"), [(0, True), (100, True), (57, True), (-1, False), (101, False)])
def test_mastery_score_range(db: Database, score: int, ok: bool) -> None:
    session = _session(db, _user(db))
    if ok:
        assert _topic(db, session, score)
    else:
        _fails(
            db,
            errors.CheckViolation,
            "insert into topics (session_id, name, mastery_score) values (%s, 'x', %s)",
            (session, score),
        )


@pytest.mark.parametrize(
    ("table", "columns", "values"),
    [
        ("users", "(email)", "('a@example.org')"),
        ("users", "(name)", "('ada')"),
        ("plan_cache", "(cache_key, plan)", "('k1', '{}')"),
        ("tutor_chats", "(user_id, topic_id, messages, explanation)", "('u', 't', '[]', '')"),
    ],
)
def test_unique_rules(db: Database, table: str, columns: str, values: str) -> None:
    insert = f"insert into {table} {columns} values {values}"
    db.conn.execute(insert)  # quiet: the first row is fine
    _fails(db, errors.UniqueViolation, insert)


def test_defaults(db: Database) -> None:
    user = _user(db)
    sid = db.scalar(
        "insert into study_sessions (user_id, exam_type) values (%s, 'JEE') returning id", (user,)
    )
    row = db.conn.execute(
        "select current_state, metadata, current_context, agent_history, created_at <= now(), "
        "updated_at <= now() from study_sessions where id = %s",
        (sid,),
    ).fetchone()
    assert row == ("INTAKE", {}, {}, [], True, True)
    tid = db.scalar("insert into topics (session_id, name) values (%s, 'x') returning id", (sid,))
    assert db.conn.execute("select status, mastery_score from topics where id = %s", (tid,)).fetchone() == (
        "pending",
        0,
    )
    db.conn.execute("insert into tutor_chats (user_id, topic_id, explanation) values ('u', 't', '')")
    assert db.scalar("select messages from tutor_chats") == []
    ttl = db.scalar(
        "insert into plan_cache (cache_key, plan) values ('k', '{}') returning expires_at - created_at"
    )
    assert ttl.total_seconds() == 24 * 3600


def test_deleting_a_user_cascades_to_sessions_topics_and_misconceptions(db: Database) -> None:
    user, other = _user(db), _user(db)
    topic = _topic(db, _session(db, user))
    other_topic = _topic(db, _session(db, other))
    db.conn.execute(
        "insert into misconceptions (user_id, topic_id, description) values (%s, %s, 'x'), (%s, %s, 'y')",
        (user, topic, other, other_topic),
    )
    db.conn.execute("delete from users where id = %s", (user,))
    counts = db.conn.execute(
        "select (select count(*) from study_sessions), (select count(*) from topics), "
        "(select count(*) from misconceptions)"
    ).fetchone()
    assert counts == (1, 1, 1)  # only the other user's rows remain


def test_deleting_a_session_cascades_to_topics_and_their_misconceptions(db: Database) -> None:
    user = _user(db)
    session, kept = _session(db, user), _session(db, user)
    topic, kept_topic = _topic(db, session), _topic(db, kept)
    db.conn.execute(
        "insert into misconceptions (user_id, topic_id, description) values (%s, %s, 'x'), (%s, %s, 'y')",
        (user, topic, user, kept_topic),
    )
    db.conn.execute("delete from study_sessions where id = %s", (session,))
    assert db.scalar("select count(*) from topics") == 1
    assert db.scalar("select array_agg(description) from misconceptions") == ["y"]
    assert db.scalar("select count(*) from users") == 1


def test_access_pattern_indexes_exist_and_duplicates_are_gone(db: Database) -> None:
    names = {
        r[0]
        for r in db.conn.execute("select indexname from pg_indexes where schemaname = 'public'").fetchall()
    }
    assert {
        "idx_quizzes_user_topic_created",
        "idx_plan_cache_expires_at",
        "idx_misconceptions_topic_id",
    } <= names
    assert not {"idx_quizzes_user_topic", "idx_plan_cache_key", "idx_tutor_chats_user_topic"} & names


def test_roles_and_current_user_id(db: Database) -> None:
    roles = db.conn.execute(
        "select rolname, rolcanlogin, rolbypassrls from pg_roles "
        "where rolname in ('anon', 'authenticated', 'service_role') order by 1"
    ).fetchall()
    assert roles == [("anon", False, False), ("authenticated", False, False), ("service_role", False, True)]
    uid = uuid.uuid4()
    with db.conn.transaction():
        db.conn.execute("select set_config('request.jwt.claims', %s, true)", (f'{{"sub": "{uid}"}}',))
        assert db.scalar("select app.current_user_id()") == uid
    with db.conn.transaction():
        db.conn.execute("select set_config('request.jwt.claims', '{\"sub\": \"x\"}', true)")
        assert db.scalar("select app.current_user_id()") is None
    with db.conn.transaction():
        db.conn.execute("select set_config('request.jwt.claims', '{\"role\": \"anon\"}', true)")
        assert db.scalar("select app.current_user_id()") is None
    assert db.scalar("select app.current_user_id()") is None


def test_current_user_id_is_inlined_into_the_statement(db: Database) -> None:
    """0015: one expression the planner inlines, not a function call per statement."""
    plan = [r[0] for r in db.conn.execute("explain (verbose, costs off) select app.current_user_id()")]
    assert "current_user_id" not in " ".join(plan) and "request.jwt.claims" in " ".join(plan)
    # the check can fail: the body 0015 replaced (a FROM clause) is called, not inlined
    db.conn.execute((ROOT / "migrations" / "0015_current_user_id_inline.rollback.sql").read_text())
    plan = [r[0] for r in db.conn.execute("explain (verbose, costs off) select app.current_user_id()")]
    assert "current_user_id()" in " ".join(plan)


def test_login_gets_or_creates_one_user(db: Database) -> None:
    first = db.scalar("select app.login('  ada ')")
    assert db.scalar("select app.login('ada')") == first
    assert db.scalar("select count(*) from users") == 1
    _fails(db, errors.InvalidParameterValue, "select app.login('  ')")


def test_archive_tables_mirror_their_sources(db: Database) -> None:
    for table in ("study_sessions", "topics", "misconceptions", "tutor_chats", "quizzes"):
        source = db.conn.execute(
            "select array_agg(attname::text order by attnum) from pg_attribute "
            "where attrelid = %s::regclass and attnum > 0 and not attisdropped",
            (f"public.{table}",),
        ).fetchone()
        archive = db.conn.execute(
            "select array_agg(attname::text order by attnum) from pg_attribute "
            "where attrelid = %s::regclass and attnum > 0 and not attisdropped",
            (f"archive.{table}",),
        ).fetchone()
        assert source and archive
        assert archive[0] == [*source[0], "archived_at"]
        assert db.scalar(
            "select relrowsecurity from pg_class where oid = %s::regclass", (f"archive.{table}",)
        )
