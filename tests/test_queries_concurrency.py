"""The races the access patterns must win, with real concurrent connections.

Each case starts 8 threads, each with its own connection, released together by a barrier.
Run it N times in a row with DBOPS_CONCURRENCY_ROUNDS=N (default 2; CI runs 20).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

import psycopg
import pytest

from ops import queries as q
from ops.db import Conn
from tests.conftest import Database
from tests.owner_only import POLICY_MODELS, apply_policy_model

WRITERS = 8
ROUNDS = range(int(os.environ.get("DBOPS_CONCURRENCY_ROUNDS", "2")))
T = TypeVar("T")


def run_concurrently(db: Database, work: Callable[[Conn, int], T]) -> list[T | BaseException]:
    """work(conn, writer) in WRITERS threads at once; each result or the exception raised."""
    barrier = threading.Barrier(WRITERS)
    results: list[T | BaseException] = [RuntimeError("did not run")] * WRITERS
    conns = [psycopg.connect(db.url, autocommit=True) for _ in range(WRITERS)]

    def one(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[n] = work(conns[n], n)
        except BaseException as exc:
            results[n] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in range(WRITERS)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a writer hung"
    finally:
        for c in conns:
            c.close()
    return results


@pytest.fixture(params=POLICY_MODELS)
def rls_db(db: Database, request: pytest.FixtureRequest) -> Database:
    apply_policy_model(db.conn, request.param, db.settings())
    return db


@pytest.mark.parametrize("round_", ROUNDS)
def test_concurrent_logins_of_one_new_name_give_one_user(rls_db: Database, round_: int) -> None:
    ids = run_concurrently(rls_db, lambda conn, n: q.login(conn, f"newcomer-{round_}"))
    assert all(isinstance(i, UUID) for i in ids), ids
    assert len(set(ids)) == 1
    assert rls_db.scalar("select count(*) from users where name = %s", (f"newcomer-{round_}",)) == 1


@pytest.mark.parametrize("round_", ROUNDS)
def test_concurrent_chat_appends_lose_no_message(rls_db: Database, round_: int) -> None:
    user = q.login(rls_db.conn, "alice")
    per_writer = 5

    def append(conn: Conn, n: int) -> int:
        last = 0
        for i in range(per_writer):
            last = q.append_chat_messages(conn, user, "topic", [{"role": "user", "content": f"w{n}-m{i}"}])
        return last

    results = run_concurrently(rls_db, append)
    assert all(isinstance(r, int) for r in results), results
    chat = q.get_chat(rls_db.conn, user, "topic")
    contents = [m["content"] for m in chat.messages]
    assert sorted(contents) == sorted(f"w{n}-m{i}" for n in range(WRITERS) for i in range(per_writer))
    for n in range(WRITERS):  # each writer's messages stay in its own order
        mine = [c for c in contents if c.startswith(f"w{n}-")]
        assert mine == [f"w{n}-m{i}" for i in range(per_writer)]
    assert max(r for r in results if isinstance(r, int)) == WRITERS * per_writer


@pytest.mark.parametrize("round_", ROUNDS)
def test_concurrent_transitions_from_one_phase_let_exactly_one_win(rls_db: Database, round_: int) -> None:
    user = q.login(rls_db.conn, "alice")
    sid = q.start_session(rls_db.conn, user, "GATE CSE")

    def move(conn: Conn, n: int) -> q.SessionState:
        return q.save_session(conn, user, sid, "INTAKE", "generate_plan", {"writer": n})

    results = run_concurrently(rls_db, move)
    winners = [r for r in results if isinstance(r, q.SessionState)]
    losers = [r for r in results if isinstance(r, q.StaleState)]
    assert len(winners) == 1 and len(losers) == WRITERS - 1, results
    state = q.load_session(rls_db.conn, user, sid, with_history=True)
    assert state.phase == "PLANNING" and state.context == winners[0].context
    assert state.agent_history is not None and len(state.agent_history) == 1


@pytest.mark.parametrize("round_", ROUNDS)
def test_concurrent_action_logs_are_all_kept(rls_db: Database, round_: int) -> None:
    user = q.login(rls_db.conn, "alice")
    sid = q.start_session(rls_db.conn, user, "GATE CSE")
    results = run_concurrently(
        rls_db, lambda conn, n: [q.log_action(conn, user, sid, f"w{n}", {"i": i}) for i in range(5)]
    )
    assert all(isinstance(r, list) for r in results), results
    history = q.load_session(rls_db.conn, user, sid, with_history=True).agent_history
    assert history is not None and len(history) == WRITERS * 5
    assert sorted({h["action"] for h in history}) == sorted(f"w{n}" for n in range(WRITERS))


@pytest.mark.parametrize("round_", ROUNDS)
def test_concurrent_topic_additions_add_each_name_once(rls_db: Database, round_: int) -> None:
    user = q.login(rls_db.conn, "alice")
    sid = q.start_session(rls_db.conn, user, "GATE CSE")
    names = ["Algorithms", "Databases", "Compilers", "Networks"]
    results = run_concurrently(
        rls_db, lambda conn, n: q.add_topics(conn, user, sid, [*names[n % 2 :], f"own-{n}"])
    )
    assert all(isinstance(r, list) for r in results), results
    rows = rls_db.conn.execute(
        "select name, count(*) from topics where session_id = %s group by 1", (sid,)
    ).fetchall()
    assert dict(rows) == dict.fromkeys([*names, *(f"own-{n}" for n in range(WRITERS))], 1)


@pytest.mark.parametrize("round_", ROUNDS)
def test_concurrent_cache_puts_of_one_key_leave_one_row(rls_db: Database, round_: int) -> None:
    results = run_concurrently(rls_db, lambda conn, n: q.put_cached_plan(conn, "gate:k", {"writer": n}))
    assert all(isinstance(r, q.CachedPlan) for r in results), results
    assert rls_db.scalar("select count(*) from plan_cache where cache_key = 'gate:k'") == 1
