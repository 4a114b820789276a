"""The access patterns: happy paths, bad input, and the owner-only RLS model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from ops import queries as q
from ops.db import connect
from ops.errors import ConfigError, OperationFailed
from ops.queries._base import MAX_JSON_BYTES
from tests.conftest import Database
from tests.owner_only import POLICY_MODELS, apply_policy_model


@pytest.fixture(params=("direct", "pooled"))
def link(db: Database, request: pytest.FixtureRequest) -> Iterator[Database]:
    """The test's database through a direct connection, or one opened as behind a
    transaction-mode pooler (`pooled=True`: nothing prepared, one string per call)."""
    if request.param == "direct":
        yield db
        return
    with connect(db.url, pooled=True) as pooled:
        yield replace(db, conn=pooled)


@pytest.fixture(params=POLICY_MODELS)
def rls_db(link: Database, request: pytest.FixtureRequest) -> Database:
    apply_policy_model(link.conn, request.param, link.settings())
    return link


@pytest.fixture
def alice(rls_db: Database) -> UUID:
    return q.login(rls_db.conn, "alice")


def _session(db: Database, user: UUID, exam: str = "GATE CSE") -> UUID:
    return q.start_session(db.conn, user, exam)


def test_queries_run_as_a_role_that_rls_binds(rls_db: Database) -> None:
    row = rls_db.conn.execute(
        "select rolsuper, rolbypassrls from pg_roles where rolname = 'authenticated'"
    ).fetchone()
    assert row == (False, False)
    owner = rls_db.scalar("select tableowner from pg_tables where tablename = 'quizzes'")
    assert owner != "authenticated"


# login -------------------------------------------------------------------------------------------


def test_login_gets_or_creates_by_name(rls_db: Database) -> None:
    first = q.login(rls_db.conn, "  bob ")
    assert q.login(rls_db.conn, "bob") == first
    assert q.login(rls_db.conn, "carol") != first
    assert rls_db.scalar("select count(*) from users") == 2


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "name must not be empty"),
        ("x" * 201, "name is 201 characters, over the limit of 200"),
        (42, "name must be text, not int"),
    ],
)
def test_login_rejects_bad_names(rls_db: Database, name: Any, message: str) -> None:
    with pytest.raises(q.InvalidInput, match=message):
        q.login(rls_db.conn, name)


# sessions and the state machine -------------------------------------------------------------------


def test_start_and_load_session(rls_db: Database, alice: UUID) -> None:
    sid = q.start_session(rls_db.conn, alice, "JEE Main", {"source": "web"})
    state = q.load_session(rls_db.conn, alice, sid)
    assert (state.session_id, state.user_id, state.exam_type, state.phase) == (
        sid,
        alice,
        "JEE Main",
        "INTAKE",
    )
    assert state.context == {} and state.agent_history is None
    assert rls_db.scalar("select metadata from study_sessions where id = %s", (sid,)) == {"source": "web"}
    assert q.load_session(rls_db.conn, alice, sid, with_history=True).agent_history == ()


def test_start_session_bad_input(rls_db: Database, alice: UUID) -> None:
    with pytest.raises(q.InvalidInput, match="exam_type must not be empty"):
        q.start_session(rls_db.conn, alice, " ")
    with pytest.raises(q.InvalidInput, match="user_id must be a UUID, not 'nobody'"):
        q.start_session(rls_db.conn, "nobody", "SAT")  # type: ignore[arg-type]
    with pytest.raises(q.InvalidInput, match="metadata must be an object"):
        q.start_session(rls_db.conn, alice, "SAT", ["not", "a", "dict"])  # type: ignore[arg-type]


def test_load_unknown_session_is_not_found(rls_db: Database, alice: UUID) -> None:
    missing = uuid4()
    with pytest.raises(q.NotFound, match=f"no study session {missing}") as info:
        q.load_session(rls_db.conn, alice, missing)
    assert isinstance(info.value, OperationFailed) and info.value.exit_code == 4


def test_save_session_walks_the_state_machine(rls_db: Database, alice: UUID) -> None:
    sid = _session(rls_db, alice)
    path = [
        ("INTAKE", "generate_plan", "PLANNING"),
        ("PLANNING", "start_topic", "LEARNING"),
        ("LEARNING", "take_quiz", "QUIZZING"),
        ("QUIZZING", "submit_answers", "ANALYZING"),
        ("ANALYZING", "next_topic", "PLANNING"),
        ("PLANNING", "start_topic", "LEARNING"),
        ("LEARNING", "take_quiz", "QUIZZING"),
        ("QUIZZING", "submit_answers", "ANALYZING"),
        ("ANALYZING", "complete", "COMPLETED"),
    ]
    for n, (phase, action, target) in enumerate(path):
        state = q.save_session(rls_db.conn, alice, sid, phase, action, {"step": n})
        assert state.phase == target and state.context == {"step": n}
    kept = q.save_session  # context=None keeps the context: checked on a fresh session below
    history = q.load_session(rls_db.conn, alice, sid, with_history=True).agent_history
    assert history is not None and [h["action"] for h in history] == [a for _, a, _ in path]
    assert history[-1]["from"] == "ANALYZING" and history[-1]["to"] == "COMPLETED"
    other = _session(rls_db, alice)
    q.save_session(rls_db.conn, alice, other, "INTAKE", "generate_plan", {"plan": 1})
    assert kept(rls_db.conn, alice, other, "PLANNING", "start_topic").context == {"plan": 1}


@pytest.mark.parametrize(
    ("phase", "action", "error", "message"),
    [
        ("INTAKE", "take_quiz", q.InvalidTransition, "action take_quiz is not allowed in phase INTAKE"),
        (
            "COMPLETED",
            "next_topic",
            q.InvalidTransition,
            "action next_topic is not allowed in phase COMPLETED",
        ),
        ("DONE", "complete", q.InvalidInput, "unknown phase 'DONE'"),
        ("INTAKE", "jump", q.InvalidInput, "unknown action 'jump'"),
    ],
)
def test_save_session_refuses_invalid_moves(
    rls_db: Database, alice: UUID, phase: str, action: str, error: type[Exception], message: str
) -> None:
    sid = _session(rls_db, alice)
    with pytest.raises(error, match=message):
        q.save_session(rls_db.conn, alice, sid, phase, action)
    assert q.load_session(rls_db.conn, alice, sid).phase == "INTAKE"


def test_invalid_transition_hint_names_the_allowed_actions() -> None:
    with pytest.raises(q.InvalidTransition) as info:
        q.next_phase("ANALYZING", "start_topic")
    assert info.value.hint == "allowed in ANALYZING: next_topic, complete"
    assert isinstance(info.value, ConfigError) and info.value.exit_code == 2
    with pytest.raises(q.InvalidTransition) as info:
        q.next_phase("COMPLETED", "complete")
    assert info.value.hint == "COMPLETED is final"


def test_save_session_refuses_a_stale_phase(rls_db: Database, alice: UUID) -> None:
    sid = _session(rls_db, alice)
    q.save_session(rls_db.conn, alice, sid, "INTAKE", "generate_plan", {"mine": True})
    with pytest.raises(q.StaleState, match="is in phase PLANNING, not INTAKE: another writer moved it"):
        q.save_session(rls_db.conn, alice, sid, "INTAKE", "generate_plan", {"stale": True})
    state = q.load_session(rls_db.conn, alice, sid, with_history=True)
    assert (
        state.context == {"mine": True} and state.agent_history is not None and len(state.agent_history) == 1
    )


def test_save_session_unknown_and_oversized(rls_db: Database, alice: UUID) -> None:
    with pytest.raises(q.NotFound):
        q.save_session(rls_db.conn, alice, uuid4(), "INTAKE", "generate_plan")
    sid = _session(rls_db, alice)
    with pytest.raises(
        q.InvalidInput, match=f"context is \\d+ bytes of JSON, over the limit of {MAX_JSON_BYTES}"
    ):
        q.save_session(rls_db.conn, alice, sid, "INTAKE", "generate_plan", {"big": "x" * MAX_JSON_BYTES})
    with pytest.raises(q.InvalidInput, match="context is not JSON-serialisable"):
        q.save_session(rls_db.conn, alice, sid, "INTAKE", "generate_plan", {"when": object()})


def test_log_action_appends_and_bumps_updated_at(rls_db: Database, alice: UUID) -> None:
    sid = _session(rls_db, alice)
    before = q.load_session(rls_db.conn, alice, sid).updated_at
    assert q.log_action(rls_db.conn, alice, sid, "tutor_reply", {"tokens": 120}) == 1
    assert q.log_action(rls_db.conn, alice, sid, "hint_shown") == 2
    state = q.load_session(rls_db.conn, alice, sid, with_history=True)
    assert state.updated_at > before
    assert state.agent_history is not None
    assert [(h["action"], h["payload"]) for h in state.agent_history] == [
        ("tutor_reply", {"tokens": 120}),
        ("hint_shown", {}),
    ]
    with pytest.raises(q.NotFound):
        q.log_action(rls_db.conn, alice, uuid4(), "x")
    with pytest.raises(q.InvalidInput, match="payload must be an object"):
        q.log_action(rls_db.conn, alice, sid, "x", [1, 2])  # type: ignore[arg-type]


# topics and progress ---------------------------------------------------------------------------


def test_add_topics_skips_existing_and_repeated_names(rls_db: Database, alice: UUID) -> None:
    sid = _session(rls_db, alice)
    added = q.add_topics(rls_db.conn, alice, sid, ["Algorithms", "Databases", "Algorithms"])
    assert [t.name for t in added] == ["Algorithms", "Databases"]
    assert all(t.status == "pending" and t.mastery_score == 0 and t.session_id == sid for t in added)
    again = q.add_topics(rls_db.conn, alice, sid, ["Databases", "Compilers"])
    assert [t.name for t in again] == ["Compilers"]
    assert rls_db.scalar("select count(*) from topics where session_id = %s", (sid,)) == 3


def test_add_topics_bad_input(rls_db: Database, alice: UUID) -> None:
    sid = _session(rls_db, alice)
    with pytest.raises(q.InvalidInput, match="names must not be empty"):
        q.add_topics(rls_db.conn, alice, sid, [])
    with pytest.raises(q.InvalidInput, match="names must be a list, not str"):
        q.add_topics(rls_db.conn, alice, sid, "Algorithms")
    with pytest.raises(q.InvalidInput, match="names has 101 items"):
        q.add_topics(rls_db.conn, alice, sid, [f"t{i}" for i in range(101)])
    with pytest.raises(q.NotFound, match="no study session"):
        q.add_topics(rls_db.conn, alice, uuid4(), ["Algorithms"])


def test_set_mastery_and_progress_across_sessions(rls_db: Database, alice: UUID) -> None:
    first = _session(rls_db, alice)
    rls_db.conn.execute(
        "update study_sessions set created_at = now() - interval '2 days' where id = %s", (first,)
    )
    second = _session(rls_db, alice)
    (old_algo,) = q.add_topics(rls_db.conn, alice, first, ["Algorithms"])
    (new_algo, dbs) = q.add_topics(rls_db.conn, alice, second, ["Algorithms", "Databases"])
    q.set_mastery(rls_db.conn, alice, old_algo.id, 90, "completed")
    updated = q.set_mastery(rls_db.conn, alice, new_algo.id, 40, "in_progress")
    assert (updated.mastery_score, updated.status) == (40, "in_progress")
    assert q.progress(rls_db.conn, alice) == [
        q.TopicProgress("GATE CSE", "Algorithms", 2, 90, 40, "in_progress"),
        q.TopicProgress("GATE CSE", "Databases", 1, 0, 0, "pending"),
    ]
    assert dbs.name == "Databases"


@pytest.mark.parametrize(
    ("score", "status", "message"),
    [
        (101, "completed", "mastery score must be an integer from 0 to 100, not 101"),
        (True, "completed", "not True"),
        ("50", "completed", "not '50'"),
        (50, "done", "unknown topic status 'done'"),
    ],
)
def test_set_mastery_bad_input(rls_db: Database, alice: UUID, score: Any, status: str, message: str) -> None:
    with pytest.raises(q.InvalidInput, match=message):
        q.set_mastery(rls_db.conn, alice, uuid4(), score, status)


def test_set_mastery_unknown_topic(rls_db: Database, alice: UUID) -> None:
    with pytest.raises(q.NotFound, match="no topic"):
        q.set_mastery(rls_db.conn, alice, uuid4(), 10, "in_progress")


# misconceptions --------------------------------------------------------------------------------


def test_record_and_read_recent_misconceptions(rls_db: Database, alice: UUID) -> None:
    sid = _session(rls_db, alice)
    (topic,) = q.add_topics(rls_db.conn, alice, sid, ["Algorithms"])
    ids = q.record_misconceptions(rls_db.conn, alice, topic.id, ["thinks O(n log n) < O(n)", "y" * 6000])
    assert len(ids) == 2
    assert rls_db.scalar("select max(length(description)) from misconceptions") == 5000
    rls_db.conn.execute("update misconceptions set detected_at = now() - interval '1 hour'")
    q.record_misconceptions(rls_db.conn, alice, None, ["confuses BFS and DFS"])
    recent = q.recent_misconceptions(rls_db.conn, alice, limit=2)
    assert recent[0].description == "confuses BFS and DFS"
    assert recent[0].topic_id is None and len(recent) == 2 and recent[1].topic_id == topic.id


def test_misconceptions_bad_input(rls_db: Database, alice: UUID) -> None:
    with pytest.raises(q.InvalidInput, match="descriptions must not be empty"):
        q.record_misconceptions(rls_db.conn, alice, None, [])
    with pytest.raises(q.InvalidInput, match="description must be text, not int"):
        q.record_misconceptions(rls_db.conn, alice, None, [3])  # type: ignore[list-item]
    with pytest.raises(q.NotFound, match="no topic"):
        q.record_misconceptions(rls_db.conn, alice, uuid4(), ["x"])
    with pytest.raises(q.InvalidInput, match="limit must be an integer from 1 to 1000, not 0"):
        q.recent_misconceptions(rls_db.conn, alice, limit=0)


def test_another_users_topic_is_no_topic_under_the_shipped_policies(db: Database) -> None:
    """The shipped WITH CHECK refuses it (the owner-only model leaves it to the foreign key)."""
    apply_policy_model(db.conn, "shipped policies", db.settings())
    alice, bob = q.login(db.conn, "alice"), q.login(db.conn, "bob")
    (topic,) = q.add_topics(db.conn, bob, _session(db, bob), ["Graphs"])
    with pytest.raises(q.NotFound, match="no topic"):
        q.record_misconceptions(db.conn, alice, topic.id, ["x"])
    assert db.scalar("select count(*) from misconceptions") == 0


# chats --------------------------------------------------------------------------------------------


def test_chat_empty_then_saved_then_appended(rls_db: Database, alice: UUID) -> None:
    empty = q.get_chat(rls_db.conn, alice, "topic-1")
    assert (empty.messages, empty.explanation, empty.last_updated) == ([], None, None)
    saved = q.save_chat(rls_db.conn, alice, "topic-1", [{"role": "user", "content": "hi"}], "Intro")
    assert saved.explanation == "Intro" and saved.last_updated is not None
    replaced = q.save_chat(rls_db.conn, alice, "topic-1", [{"role": "user", "content": "again"}], "Intro 2")
    assert replaced.messages == [{"role": "user", "content": "again"}]
    assert (
        q.append_chat_messages(rls_db.conn, alice, "topic-1", [{"role": "assistant", "content": "ok"}]) == 2
    )
    chat = q.get_chat(rls_db.conn, alice, "topic-1")
    assert [m["content"] for m in chat.messages] == ["again", "ok"] and chat.explanation == "Intro 2"
    assert q.append_chat_messages(rls_db.conn, alice, "topic-2", [{"role": "user", "content": "new"}]) == 1
    assert q.get_chat(rls_db.conn, alice, "topic-2").explanation == ""
    assert rls_db.scalar("select count(*) from tutor_chats") == 2


def test_chat_bad_input(rls_db: Database, alice: UUID) -> None:
    with pytest.raises(q.InvalidInput, match="messages must be a list, not dict"):
        q.save_chat(rls_db.conn, alice, "t", {"role": "user"})  # type: ignore[arg-type]
    with pytest.raises(q.InvalidInput, match="explanation must be text, not int"):
        q.save_chat(rls_db.conn, alice, "t", [], 5)  # type: ignore[arg-type]
    with pytest.raises(q.InvalidInput, match="topic_id must not be empty"):
        q.get_chat(rls_db.conn, alice, "")
    with pytest.raises(q.InvalidInput, match="messages must not be empty"):
        q.append_chat_messages(rls_db.conn, alice, "t", [])
    with pytest.raises(q.InvalidInput, match="over the limit of"):
        q.append_chat_messages(rls_db.conn, alice, "t", [{"content": "x" * MAX_JSON_BYTES}])


# quizzes -----------------------------------------------------------------------------------------


def test_latest_quiz_is_the_newest(rls_db: Database, alice: UUID) -> None:
    topic = uuid4()
    assert q.latest_quiz(rls_db.conn, alice, topic) is None
    old = q.save_quiz(rls_db.conn, alice, topic, [{"question": "old?"}])
    rls_db.conn.execute("update quizzes set created_at = now() - interval '1 day' where id = %s", (old.id,))
    new = q.save_quiz(rls_db.conn, alice, topic, [{"question": "new?"}])
    latest = q.latest_quiz(rls_db.conn, alice, topic)
    assert latest is not None and latest.id == new.id and latest.questions == [{"question": "new?"}]
    assert latest.topic_id == str(topic) and latest.user_id == str(alice)


def test_save_quiz_bad_input(rls_db: Database, alice: UUID) -> None:
    with pytest.raises(q.InvalidInput, match="questions must not be empty"):
        q.save_quiz(rls_db.conn, alice, "t", [])
    with pytest.raises(q.InvalidInput, match="questions must be a list, not NoneType"):
        q.save_quiz(rls_db.conn, alice, "t", None)  # type: ignore[arg-type]


# plan cache --------------------------------------------------------------------------------------


def test_plan_cache_put_get_expire_refresh(rls_db: Database, alice: UUID) -> None:
    assert q.get_cached_plan(rls_db.conn, alice, "gate:abc") is None
    put = q.put_cached_plan(rls_db.conn, "gate:abc", {"days": [1, 2]})
    assert put.expires_at - put.created_at == timedelta(hours=24)
    got = q.get_cached_plan(rls_db.conn, alice, "gate:abc")
    assert got is not None and got.plan == {"days": [1, 2]}
    assert q.get_cached_plan(rls_db.conn, None, "gate:abc") == got
    rls_db.conn.execute("update plan_cache set expires_at = now() - interval '1 minute'")
    assert q.get_cached_plan(rls_db.conn, alice, "gate:abc") is None
    refreshed = q.put_cached_plan(rls_db.conn, "gate:abc", {"days": [3]}, ttl=timedelta(hours=1))
    assert refreshed.plan == {"days": [3]}
    got = q.get_cached_plan(rls_db.conn, alice, "gate:abc")
    assert got is not None and got.plan == {"days": [3]}
    assert rls_db.scalar("select count(*) from plan_cache") == 1


def test_plan_cache_bad_input(rls_db: Database) -> None:
    with pytest.raises(q.InvalidInput, match="ttl must be a positive timedelta"):
        q.put_cached_plan(rls_db.conn, "k", {}, ttl=timedelta(0))
    with pytest.raises(q.InvalidInput, match="plan must be an object"):
        q.put_cached_plan(rls_db.conn, "k", [])  # type: ignore[arg-type]
    with pytest.raises(q.InvalidInput, match="cache_key must not be empty"):
        q.put_cached_plan(rls_db.conn, "", {})


def test_authenticated_callers_cannot_write_the_plan_cache(rls_db: Database, alice: UUID) -> None:
    import psycopg

    from ops.queries.rls import acting_as

    with pytest.raises(psycopg.errors.InsufficientPrivilege), acting_as(rls_db.conn, alice):
        rls_db.conn.execute("insert into plan_cache (cache_key, plan) values ('x', '{}')")


# owner-only RLS ------------------------------------------------------------------------------


def test_another_user_sees_and_changes_nothing_of_alice(rls_db: Database, alice: UUID) -> None:
    conn = rls_db.conn
    sid = _session(rls_db, alice)
    (topic,) = q.add_topics(conn, alice, sid, ["Algorithms"])
    q.record_misconceptions(conn, alice, topic.id, ["x"])
    q.save_chat(conn, alice, topic.id, [{"role": "user", "content": "mine"}], "e")
    q.save_quiz(conn, alice, topic.id, [{"question": "q"}])
    mallory = q.login(conn, "mallory")
    with pytest.raises(q.NotFound):
        q.load_session(conn, mallory, sid)
    with pytest.raises(q.NotFound):
        q.save_session(conn, mallory, sid, "INTAKE", "generate_plan")
    with pytest.raises(q.NotFound):
        q.log_action(conn, mallory, sid, "x")
    with pytest.raises(q.NotFound):
        q.add_topics(conn, mallory, sid, ["Injected"])
    with pytest.raises(q.NotFound):
        q.set_mastery(conn, mallory, topic.id, 100, "completed")
    assert q.get_chat(conn, mallory, topic.id).messages == []
    assert q.latest_quiz(conn, mallory, topic.id) is None
    assert q.recent_misconceptions(conn, mallory) == []
    assert q.progress(conn, mallory) == []
    assert q.load_session(conn, alice, sid).phase == "INTAKE"
    assert len(q.progress(conn, alice)) == 1


def test_the_readme_example_runs(rls_db: Database) -> None:
    from tests.server import ROOT

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### The query module") :]
    code = section[section.index("```python\n") + len("```python\n") : section.index("\n```\n")]
    scope: dict[str, Any] = {"DATABASE_URL": rls_db.url}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["quiz"] is not None and scope["chat"].messages[0]["content"] == "why?"
    assert scope["state"].phase == "PLANNING"


def test_prepared_plans_reused_across_users_keep_rows_apart(rls_db: Database, alice: UUID) -> None:
    """psycopg prepares a statement on its 5th use (a pooled connection prepares nothing and
    the server caches the plans of the functions of 0019 instead after their 5th call); the
    plan must not carry one user's view."""
    conn = rls_db.conn
    q.save_quiz(conn, alice, "t", [{"question": "mine"}])
    q.append_chat_messages(conn, alice, "t", [{"content": "mine"}])
    bob = q.login(conn, "bob")
    for _ in range(8):
        assert q.latest_quiz(conn, alice, "t") is not None
        assert q.get_chat(conn, alice, "t").messages
    assert q.latest_quiz(conn, bob, "t") is None
    assert q.get_chat(conn, bob, "t").messages == []
    prepared = conn.execute("select count(*) from pg_prepared_statements").fetchone()
    assert prepared == (0,) if conn.prepare_threshold is None else prepared != (0,)
