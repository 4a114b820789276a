"""How a call reaches the server: one round trip per call, a bound connection, nothing left behind.

Round trips are counted in libpq's protocol trace: every round trip ends with the server's
ReadyForQuery, and every statement is one Execute (extended protocol) or Query (simple).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from uuid import UUID
from weakref import WeakKeyDictionary

import psycopg
import pytest
from psycopg import pq

from ops import queries as q
from ops.db import Conn
from ops.errors import ConfigError
from ops.queries.rls import acting_as
from tests.conftest import Database
from tests.owner_only import POLICY_MODELS, apply_policy_model

WHO = "select current_user, current_setting('request.jwt.claims', true)"


@dataclass
class Setup:
    db: Database
    alice: UUID
    bob: UUID
    login_role: str

    @property
    def conn(self) -> Conn:
        return self.db.conn


@pytest.fixture(params=POLICY_MODELS)
def setup(db: Database, request: pytest.FixtureRequest) -> Setup:
    apply_policy_model(db.conn, request.param, db.settings())
    alice, bob = q.login(db.conn, "alice"), q.login(db.conn, "bob")
    q.save_quiz(db.conn, alice, "t", [{"question": "alice's"}])
    return Setup(db, alice, bob, str(db.scalar("select session_user")))


@dataclass(frozen=True)
class Traffic:
    round_trips: int
    statements: list[str]


_PREPARED: WeakKeyDictionary[Conn, dict[str, str]] = WeakKeyDictionary()


def traffic(conn: Conn, call: Callable[[], object]) -> Traffic:
    """What `call` sent: its round trips and the text of each statement executed."""
    with tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            call()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        records: list[str] = []
        for line in trace.read().decode().splitlines():  # statement texts span lines
            if line.startswith(("F\t", "B\t")) or not records:
                records.append(line)
            else:
                records[-1] += "\n" + line
        lines = [record.split("\t", 3) for record in records]
    texts = _PREPARED.setdefault(conn, {})  # prepared statement name -> text, across traces
    statements, pending = [], ""
    for direction, _, message, *rest in lines:
        args = rest[0].strip() if rest else ""
        if direction == "F" and message == "Parse":
            name, text = args.split('" "', 1)
            texts[name.strip('"')] = pending = text.split('" ', 1)[0]
        elif direction == "F" and message == "Bind":
            pending = texts.get(args.split('" "', 1)[1].split('"', 1)[0], pending)
        elif direction == "F" and message == "Execute":
            statements.append(pending)
        elif direction == "F" and message == "Query":
            statements.append(args.strip('"'))
    return Traffic(sum(1 for d, _, m, *_ in lines if d == "B" and m == "ReadyForQuery"), statements)


def test_a_call_is_one_round_trip_that_sets_the_caller_and_runs_the_query(setup: Setup) -> None:
    for _ in range(6):  # past psycopg's prepare threshold too: Bind of a named statement
        sent = traffic(setup.conn, lambda: q.latest_quiz(setup.conn, setup.alice, "t"))
        assert sent.round_trips == 1
        assert len(sent.statements) == 2
        assert "set_config('role'" in sent.statements[0] and "from quizzes" in sent.statements[1]
    # the check can fail: a call inside an explicit transaction takes one round trip per statement
    with setup.conn.transaction():
        sent = traffic(setup.conn, lambda: q.latest_quiz(setup.conn, setup.alice, "t"))
    assert sent.round_trips > 1


def test_two_step_patterns_are_one_round_trip_too(setup: Setup) -> None:
    sid = q.start_session(setup.conn, setup.alice, "GATE CSE")
    sent = traffic(setup.conn, lambda: q.add_topics(setup.conn, setup.alice, sid, ["Graphs"]))
    assert (sent.round_trips, len(sent.statements)) == (1, 3)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: q.latest_quiz(s.conn, s.alice, "t"),
        lambda s: q.put_cached_plan(s.conn, "k", {"days": []}),
        lambda s: q.login(s.conn, "carol"),
    ],
)
def test_nothing_of_the_caller_outlives_the_call(setup: Setup, call: Callable[[Setup], object]) -> None:
    call(setup)
    assert setup.conn.execute(WHO).fetchone() in {(setup.login_role, ""), (setup.login_role, None)}
    assert setup.conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_a_failing_call_leaves_the_connection_idle_and_changes_nothing(setup: Setup) -> None:
    ghost = UUID(int=7)
    with pytest.raises(q.NotFound):
        q.start_session(setup.conn, ghost, "GATE CSE")  # the FK error comes back from the pipeline
    assert setup.conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert setup.conn.execute(WHO).fetchone() in {(setup.login_role, ""), (setup.login_role, None)}
    assert setup.db.scalar("select count(*) from study_sessions") == 0
    sid = q.start_session(setup.conn, setup.alice, "GATE CSE")  # and the connection still works
    with pytest.raises(q.NotFound):
        q.add_topics(setup.conn, setup.bob, sid, ["Injected"])  # invisible session: nothing inserted
    assert setup.db.scalar("select count(*) from topics") == 0


def test_a_call_inside_the_callers_transaction_joins_it(setup: Setup) -> None:
    with setup.conn.transaction():
        q.save_quiz(setup.conn, setup.alice, "t2", [{"question": "draft"}])
        assert setup.conn.execute("select current_user").fetchone() == (setup.login_role,)
        raise psycopg.Rollback()
    assert q.latest_quiz(setup.conn, setup.alice, "t2") is None


@pytest.fixture
def bound(setup: Setup) -> Iterator[Setup]:
    with q.bind(setup.conn, setup.alice):
        yield setup


def test_a_bound_call_is_the_bare_statement(bound: Setup) -> None:
    assert bound.conn.execute("select current_user, app.current_user_id()").fetchone() == (
        "authenticated",
        bound.alice,
    )
    sent = traffic(bound.conn, lambda: q.latest_quiz(bound.conn, bound.alice, "t"))
    assert (sent.round_trips, len(sent.statements)) == (1, 1)
    assert "from quizzes" in sent.statements[0]
    quiz = q.latest_quiz(bound.conn, bound.alice, "t")
    assert quiz is not None and quiz.questions == [{"question": "alice's"}]


def test_a_bound_connection_still_enforces_rls(bound: Setup) -> None:
    rows = bound.conn.execute("select distinct user_id from quizzes").fetchall()
    assert rows == [(str(bound.alice),)]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        bound.conn.execute("insert into plan_cache (cache_key, plan) values ('x', '{}')")


def test_a_call_for_someone_else_on_a_bound_connection_switches_for_that_call_only(bound: Setup) -> None:
    sent = traffic(bound.conn, lambda: q.latest_quiz(bound.conn, bound.bob, "t"))
    # in the binding's transaction: bob's caller, the query, alice's caller back; one round trip
    assert (sent.round_trips, len(sent.statements)) == (1, 3)
    assert q.latest_quiz(bound.conn, bound.bob, "t") is None  # bob's view: alice's quiz is hidden
    assert q.put_cached_plan(bound.conn, "k", {"days": []}).cache_key == "k"  # as service_role
    assert bound.conn.execute("select app.current_user_id()").fetchone() == (bound.alice,)
    with acting_as(bound.conn, bound.bob):
        assert bound.conn.execute("select app.current_user_id()").fetchone() == (bound.bob,)
    assert bound.conn.execute("select app.current_user_id()").fetchone() == (bound.alice,)


def test_leaving_the_binding_restores_the_session(setup: Setup) -> None:
    with q.bind(setup.conn, setup.alice):
        pass
    assert setup.conn.execute(WHO).fetchone() in {(setup.login_role, ""), (setup.login_role, None)}
    with pytest.raises(RuntimeError), q.bind(setup.conn, setup.alice):
        raise RuntimeError("the request failed")
    assert setup.conn.execute(WHO).fetchone() in {(setup.login_role, ""), (setup.login_role, None)}
    with (
        pytest.raises(psycopg.errors.DivisionByZero),
        q.bind(setup.conn, setup.alice),
        setup.conn.transaction(),
    ):
        setup.conn.execute("select 1 / 0")
    assert setup.conn.execute(WHO).fetchone() in {(setup.login_role, ""), (setup.login_role, None)}
    # after the binding, calls switch per call again
    sent = traffic(setup.conn, lambda: q.latest_quiz(setup.conn, setup.alice, "t"))
    assert len(sent.statements) == 2


def test_binding_refuses_a_busy_or_bound_connection(setup: Setup) -> None:
    with setup.conn.transaction(), pytest.raises(ConfigError, match="needs an idle connection"):
        q.bind(setup.conn, setup.alice).__enter__()
    with q.bind(setup.conn, setup.alice), pytest.raises(ConfigError, match="already bound"):
        q.bind(setup.conn, setup.bob).__enter__()
    with pytest.raises(q.InvalidInput, match="user_id must be a UUID"):
        q.bind(setup.conn, "alice")  # type: ignore[arg-type]


def test_bind_system_serves_the_plan_cache(setup: Setup) -> None:
    with q.bind_system(setup.conn):
        sent = traffic(setup.conn, lambda: q.put_cached_plan(setup.conn, "k", {"days": [1]}))
        assert (sent.round_trips, len(sent.statements)) == (1, 1)
        cached = q.get_cached_plan(setup.conn, None, "k")
    assert cached is not None and cached.plan == {"days": [1]}
