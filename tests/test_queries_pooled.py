"""The pooler-safe call path: one string per call, the statements behind functions (0019).

tests/test_queries.py runs every access pattern on a pooled connection too; here: the
functions match the statements the library names, they are what the migration says they
are (invoker, pinned settings, least privilege), values reach the server as the exact
text they were, and nothing of a call is left in the server session.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from uuid import UUID

import psycopg
import pytest

from ops import queries as q
from ops.db import Conn, connect
from ops.queries._base import FUNCTIONS, run, statement, user
from ops.queries.rls import actor
from ops.sqltext import normalize
from tests.conftest import Database
from tests.owner_only import apply_policy_model

PLACEHOLDER = re.compile(rb"%\((\w+)\)s")
SYSTEM_FUNCTIONS = {
    "q_get_cached_plan": {"authenticated", "service_role"},
    "q_put_cached_plan": {"service_role"},
}


@pytest.fixture
def pooled(db: Database) -> Iterator[Conn]:
    apply_policy_model(db.conn, "shipped policies", db.settings())
    with connect(db.url, pooled=True) as conn:
        yield conn


def _functions(db: Database) -> dict[str, tuple[list[str], bool, str, list[str]]]:
    rows = db.conn.execute(
        "select p.proname, p.proargnames[1:p.pronargs], p.prosecdef, p.provolatile::text,"
        " coalesce(p.proconfig, '{}')"
        " from pg_proc as p where p.pronamespace = 'app'::regnamespace and p.proname like 'q\\_%'"
    ).fetchall()
    return {r[0]: (list(r[1]), r[2], r[3], list(r[4])) for r in rows}


def test_each_function_takes_its_statements_parameters_in_the_registered_order(db: Database) -> None:
    functions = _functions(db)
    assert set(functions) == set(FUNCTIONS)
    for name, args in FUNCTIONS.items():
        in_file = dict.fromkeys(m.decode() for m in PLACEHOLDER.findall(statement(name)))
        assert set(args) == set(in_file), name
        assert functions[name][0] == list(args), name


def test_functions_are_invoker_volatile_and_pinned(db: Database) -> None:
    for name, (_, secdef, volatility, config) in _functions(db).items():
        assert not secdef, f"{name} must run as its caller (RLS applies)"
        assert volatility == "v", f"{name}: a STABLE single SELECT would be inlined and planned per call"
        assert set(config) == {'search_path=""', "plan_cache_mode=force_generic_plan"}, (name, config)


def test_only_the_calling_role_executes_a_function(db: Database) -> None:
    for name in FUNCTIONS:
        granted = {
            role
            for role in ("anon", "authenticated", "service_role", "public")
            if db.scalar(
                "select bool_or(a.grantee = coalesce(r.oid, 0) and a.privilege_type = 'EXECUTE')"
                " from pg_proc as p cross join aclexplode(p.proacl) as a"
                " left join pg_roles as r on r.rolname = %s"
                " where p.pronamespace = 'app'::regnamespace and p.proname = %s",
                (role, name),
            )
        }
        assert granted == SYSTEM_FUNCTIONS.get(name, {"authenticated"}), name


def test_values_reach_the_server_as_their_exact_text(pooled: Conn) -> None:
    alice = q.login(pooled, "alice")
    nasty = "it's \\'; select 1; -- $$ \\x00ff ''\" é 東"
    chat = q.save_chat(pooled, alice, nasty, [{"content": nasty}], nasty)
    assert (chat.topic_id, chat.messages, chat.explanation) == (nasty, [{"content": nasty}], nasty)
    again = q.get_chat(pooled, alice, nasty)
    assert (again.messages, again.explanation) == ([{"content": nasty}], nasty)
    session = q.start_session(pooled, alice, nasty, {"k": nasty})
    assert q.load_session(pooled, alice, session).exam_type == nasty
    assert [t.name for t in q.add_topics(pooled, alice, session, [nasty, "b"])] == [nasty, "b"]
    assert q.login(pooled, nasty) == q.login(pooled, nasty)  # q_login: the statement, no function


def test_a_call_leaves_nothing_in_the_session_and_prepares_nothing(pooled: Conn) -> None:
    login = pooled.execute("select current_user").fetchone()
    alice = q.login(pooled, "alice")
    session = q.start_session(pooled, alice, "GATE CSE")
    q.add_topics(pooled, alice, session, ["a"])  # two steps in one string
    with pytest.raises(q.NotFound):
        q.load_session(pooled, q.login(pooled, "bob"), session)
    who = pooled.execute("select current_user, current_setting('request.jwt.claims', true)").fetchone()
    assert who is not None and (who[0],) == login and who[1] in (None, "")
    assert pooled.execute("select count(*) from pg_prepared_statements").fetchone() == (0,)
    assert pooled.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_failed_step_rolls_back_the_whole_string(pooled: Conn, db: Database) -> None:
    alice = q.login(pooled, "alice")
    session = q.start_session(pooled, alice, "GATE CSE")
    (topic,) = q.add_topics(pooled, alice, session, ["a"])
    sessions = db.scalar("select count(*) from study_sessions")
    new = {"user_id": alice, "exam_type": "JEE", "metadata": None}
    out_of_range = {"score": 500, "status": "pending", "topic_id": topic.id}  # past the Python checks
    with pytest.raises(psycopg.errors.CheckViolation):
        run(pooled, user(alice), ("q_start_session", new), ("q_set_mastery", out_of_range))
    assert db.scalar("select count(*) from study_sessions") == sessions
    assert q.progress(pooled, alice)[0].latest_score == 0  # and the connection works on


def test_the_claims_of_an_actor_need_no_escaping() -> None:
    sub = UUID("00000000-0000-4000-8000-000000000000")
    assert actor("authenticated", sub).set_local == (
        b'set local role "authenticated"; set local request.jwt.claims = '
        b'\'{"sub": "00000000-0000-4000-8000-000000000000", "role": "authenticated"}\''
    )


# Each statement file's code (comments and layout aside) as it was when migration 0019
# wrote its function from it. The pooled path runs the function, the other path the file:
# a change to the file alone would split them.
WRITTEN_FROM = {
    "q_latest_quiz": "371c931badcee040",
    "q_get_chat": "8b3a866d31ffeda9",
    "q_load_session": "4bd145256e3b0b26",
    "q_session_phase": "3e1a3608888bef5e",
    "q_get_cached_plan": "807310b4cfb0ed17",
    "q_recent_misconceptions": "2b771572fe113039",
    "q_progress": "34188eba933cbabb",
    "q_start_session": "10e18ff00748c505",
    "q_save_session": "f7132ef7e51f02c1",
    "q_log_action": "70d9ce0b08fae339",
    "q_lock_session": "9ed40e3903b27ddf",
    "q_add_topics": "86d545626e6dc35b",
    "q_set_mastery": "15b68884539db016",
    "q_record_misconceptions": "553ab69d46a142b7",
    "q_save_chat": "a4d459d9e527b51f",
    "q_append_chat": "19e0e8488bdb3148",
    "q_save_quiz": "b7b3ca0dbedf0bc8",
    "q_put_cached_plan": "6ac01e15228380d1",
}


def test_no_statement_changed_since_its_function_was_written() -> None:
    assert set(WRITTEN_FROM) == set(FUNCTIONS)
    changed = [
        name
        for name, digest in WRITTEN_FROM.items()
        if hashlib.sha256(normalize(statement(name).decode()).encode()).hexdigest()[:16] != digest
    ]
    assert changed == [], (
        f"{', '.join(changed)}: the statement changed, its function app.<name> in migrations/ did not; "
        "add a migration that replaces the function with the new statement, then update WRITTEN_FROM"
    )
