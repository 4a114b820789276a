"""Each access pattern of ops.queries vs the same SQL through bare psycopg.

For every pattern it times, on the same data in the same run, interleaved:
  bare     - the same statements, prepared, autocommit, as the table owner (the floor);
  library  - the library call on an unbound connection: validation, then the role, the
             claims and the statements as one pipeline (one round trip), RLS enforced;
  bound    - the library call on a connection bound to the caller (`queries.bind`): the
             role and claims are set once per request, so a call is the statement alone;
  bare_rls - the bare statements on a connection bound to the caller: the policies' own
             server work, with no library code;
  bind     - entering and leaving `queries.bind` (what a request pays once for binding);
  pooled   - the library call on an unbound connection opened with `connect(url, pooled=True)`:
             the pooler-safe per-call path (one simple-protocol string: SET LOCAL of role
             and claims, then the statements' functions of migration 0019; nothing
             prepared, nothing set for the session), what an application behind PgBouncer
             in transaction mode runs;
  bare_unprepared - the bare statements on that connection (prepare=False): what a pooled
             client pays that plans every statement.
It prints `query_<pattern>_p50|p99` (library / bare), `query_<pattern>_pooled_p50|p99`
(pooled / bare: the pooler-safe path against bare psycopg as it runs on a direct
connection), `query_<pattern>_pooled_vs_unprepared_p50` (pooled / bare_unprepared),
`query_<pattern>_pooled_vs_bare_rls_p50` (pooled / bare_rls: the pooler safety's own cost,
the policies' counted on both sides), `query_<pattern>_bound_p50|p99`
(bound / bare), `_bound_vs_bare_rls_p50` (the library's own cost), `_rls_only_p50`
(bare_rls / bare: what RLS costs the server), `query_<pattern>_request5_p50` (bind + 5
bound calls vs 5 bare statements), and throughput with 8 concurrent clients. The
generator's rows/s vs plain COPY is bench/bench_sample.py.

Run: `python -m bench.bench_queries`. Data: a clone of the cached bench dataset
(bench/dataset.py) of BENCH_QUERY_USERS users (default 42500: about 1M quizzes and 200k
chats; the first run of a day builds the template in about two minutes), BENCH_QUERY_N
calls per variant (default 400).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg

from bench.dataset import bench_dataset
from ops import queries as q
from ops.db import Conn, connect
from ops.queries._base import statement
from ops.queries.rls import bound_as

Conn = Conn
Statements = list[tuple[str, dict[str, Any]]]
VARIANTS = ("library", "bare", "bound", "bare_rls", "bind", "pooled", "bare_unprepared")
WARMUP = 10  # calls per variant before timing: psycopg prepares a statement on its 5th use


@dataclass
class Pattern:
    name: str
    role: str  # the role the library acts as: authenticated, anon or service_role
    user: Callable[[int], UUID | None]  # who the call of iteration i acts for
    call: Callable[[Conn, int], object]  # the library call for iteration i
    statements: Callable[[int], Statements]  # the same SQL: [(file, params)]


def ensure_policies(conn: Conn, url: str) -> str:
    """The project's policies, as `dbops migrate` applies them."""
    from bench.common import ROOT
    from ops import policies
    from ops.config import load_settings

    policies.apply_changed(conn, load_settings({"database_url": url}, {}, ROOT))
    count = conn.execute("select count(*) from pg_policies where schemaname = 'public'").fetchone()
    return f"the project's policies/ ({count[0] if count else 0} policies)"


def run_bare(conn: Conn, stmts: Statements, prepare: bool = True) -> None:
    if len(stmts) == 1:
        conn.execute(statement(stmts[0][0]), stmts[0][1], prepare=prepare).fetchall()
        return
    with conn.pipeline():  # one round trip, one implicit transaction: the fastest raw form
        cursors = [conn.execute(statement(name), params, prepare=prepare) for name, params in stmts]
    for cursor in cursors:
        cursor.fetchall()


def one(conn: Conn, pattern: Pattern, variant: str, i: int, pooled: Conn | None = None) -> float:
    """Seconds of one call of `variant` for iteration i (the binding a variant runs under is
    set up untimed; `bind` times the binding itself)."""
    if variant in ("pooled", "bare_unprepared"):
        assert pooled is not None
        stmts = pattern.statements(i) if variant == "bare_unprepared" else []
        start = time.perf_counter()
        if variant == "pooled":
            pattern.call(pooled, i)
        else:
            run_bare(pooled, stmts, prepare=False)
        return time.perf_counter() - start
    if variant == "bind":
        start = time.perf_counter()
        with bound_as(conn, pattern.user(i), pattern.role):
            pass
        return time.perf_counter() - start
    raw = variant in ("bare", "bare_rls")
    bound = variant in ("bound", "bare_rls")
    with bound_as(conn, pattern.user(i), pattern.role) if bound else nullcontext():
        stmts = pattern.statements(i) if raw else []  # (statements(i) moves save_session along)
        start = time.perf_counter()
        if raw:
            run_bare(conn, stmts)
        else:
            pattern.call(conn, i)
        return time.perf_counter() - start


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def keys(conn: Conn, sql_text: str, n: int) -> list[tuple[Any, ...]]:
    rows = conn.execute(sql_text).fetchall()  # type: ignore[arg-type]
    if not rows:
        raise SystemExit(f"bench data has no rows for: {sql_text}")
    random.Random(1).shuffle(rows)
    return rows[:n] if len(rows) >= n else (rows * (n // max(len(rows), 1) + 1))[:n]


def patterns(conn: Conn, n: int) -> list[Pattern]:
    """Four disjoint key sets per write pattern (one per variant) so none sees another's rows."""
    size = len(VARIANTS) * (n + WARMUP)  # disjoint keys per variant, warm-up included
    quiz = keys(conn, "select user_id::uuid, topic_id from quizzes", size)
    chat = keys(conn, "select user_id::uuid, topic_id from tutor_chats", size)
    sess = keys(conn, "select user_id, id from study_sessions", size)
    mis = keys(conn, "select distinct user_id from misconceptions", size)
    plan = keys(conn, "select cache_key from plan_cache where expires_at > now()", size)
    topic = keys(
        conn,
        "select s.user_id, t.id from topics t join study_sessions s on s.id = t.session_id",
        size,
    )
    names = keys(conn, "select name from users", size)
    conn.execute("update study_sessions set current_state = 'PLANNING'")
    phases: dict[UUID, str] = {}
    cycle = {
        "PLANNING": "start_topic",
        "LEARNING": "take_quiz",
        "QUIZZING": "submit_answers",
        "ANALYZING": "next_topic",
    }

    def transition(sid: UUID) -> tuple[str, str]:
        phase = phases.get(sid, "PLANNING")
        action = cycle[phase]
        phases[sid] = q.next_phase(phase, action)
        return phase, action

    def uq(rows: list[tuple[Any, ...]], i: int) -> dict[str, Any]:
        return {"user_id": str(rows[i][0]), "topic_id": rows[i][1]}

    message = [{"role": "user", "content": "Why does the sign change here?"}]
    questions = [{"question": "Which is correct?", "options": ["a", "b", "c", "d"], "correct_answer": 1}] * 5
    plan_doc = {"days": [{"day": d, "topic": "Algorithms", "hours": 2} for d in range(1, 8)]}

    def save_session_stmts(i: int) -> Statements:
        _, sid = sess[i]
        phase, action = transition(sid)
        return [
            (
                "q_save_session",
                {
                    "session_id": sid,
                    "expected_phase": phase,
                    "action": action,
                    "next_phase": phases[sid],
                    "context": '{"i": 1}',
                },
            )
        ]

    def save_session_call(c: Conn, i: int) -> object:
        user, sid = sess[i]
        phase, action = transition(sid)
        return q.save_session(c, user, sid, phase, action, {"i": 1})

    return [
        Pattern(
            "latest_quiz",
            "authenticated",
            lambda i: quiz[i][0],
            lambda c, i: q.latest_quiz(c, quiz[i][0], quiz[i][1]),
            lambda i: [("q_latest_quiz", uq(quiz, i))],
        ),
        Pattern(
            "get_chat",
            "authenticated",
            lambda i: chat[i][0],
            lambda c, i: q.get_chat(c, chat[i][0], chat[i][1]),
            lambda i: [("q_get_chat", uq(chat, i))],
        ),
        Pattern(
            "load_session",
            "authenticated",
            lambda i: sess[i][0],
            lambda c, i: q.load_session(c, sess[i][0], sess[i][1]),
            lambda i: [("q_load_session", {"session_id": sess[i][1], "with_history": False})],
        ),
        Pattern(
            "get_cached_plan",
            "authenticated",
            lambda i: sess[i][0],
            lambda c, i: q.get_cached_plan(c, sess[i][0], plan[i][0]),
            lambda i: [("q_get_cached_plan", {"cache_key": plan[i][0]})],
        ),
        Pattern(
            "recent_misconceptions",
            "authenticated",
            lambda i: mis[i][0],
            lambda c, i: q.recent_misconceptions(c, mis[i][0]),
            lambda i: [("q_recent_misconceptions", {"user_id": mis[i][0], "limit": 20})],
        ),
        Pattern(
            "progress",
            "authenticated",
            lambda i: mis[i][0],
            lambda c, i: q.progress(c, mis[i][0]),
            lambda i: [("q_progress", {"user_id": mis[i][0]})],
        ),
        Pattern(
            "login",
            "service_role",
            lambda i: None,
            lambda c, i: q.login(c, names[i][0]),
            lambda i: [("q_login", {"name": names[i][0]})],
        ),
        Pattern(
            "start_session",
            "authenticated",
            lambda i: sess[i][0],
            lambda c, i: q.start_session(c, sess[i][0], "GATE CSE"),
            lambda i: [
                ("q_start_session", {"user_id": sess[i][0], "exam_type": "GATE CSE", "metadata": None})
            ],
        ),
        Pattern("save_session", "authenticated", lambda i: sess[i][0], save_session_call, save_session_stmts),
        Pattern(
            "log_action",
            "authenticated",
            lambda i: sess[i][0],
            lambda c, i: q.log_action(c, sess[i][0], sess[i][1], "hint", {"i": 1}),
            lambda i: [("q_log_action", {"session_id": sess[i][1], "action": "hint", "payload": '{"i": 1}'})],
        ),
        Pattern(
            "add_topics",
            "authenticated",
            lambda i: sess[i][0],
            lambda c, i: q.add_topics(c, sess[i][0], sess[i][1], [f"bench-{i}"]),
            lambda i: [
                ("q_lock_session", {"session_id": sess[i][1], "names": [f"bench-{i}"]}),
                ("q_add_topics", {"session_id": sess[i][1], "names": [f"bench-{i}"]}),
            ],
        ),
        Pattern(
            "set_mastery",
            "authenticated",
            lambda i: topic[i][0],
            lambda c, i: q.set_mastery(c, topic[i][0], topic[i][1], 50, "in_progress"),
            lambda i: [("q_set_mastery", {"topic_id": topic[i][1], "score": 50, "status": "in_progress"})],
        ),
        Pattern(
            "record_misconceptions",
            "authenticated",
            lambda i: topic[i][0],
            lambda c, i: q.record_misconceptions(c, topic[i][0], topic[i][1], ["confuses a with b"]),
            lambda i: [
                (
                    "q_record_misconceptions",
                    {
                        "user_id": topic[i][0],
                        "topic_id": topic[i][1],
                        "descriptions": ["confuses a with b"],
                    },
                )
            ],
        ),
        Pattern(
            "save_chat",
            "authenticated",
            lambda i: chat[i][0],
            lambda c, i: q.save_chat(c, chat[i][0], chat[i][1], message, "e"),
            lambda i: [("q_save_chat", {**uq(chat, i), "messages": json.dumps(message), "explanation": "e"})],
        ),
        Pattern(
            "append_chat_messages",
            "authenticated",
            lambda i: chat[i][0],
            lambda c, i: q.append_chat_messages(c, chat[i][0], chat[i][1], message),
            lambda i: [("q_append_chat", {**uq(chat, i), "messages": json.dumps(message)})],
        ),
        Pattern(
            "save_quiz",
            "authenticated",
            lambda i: quiz[i][0],
            lambda c, i: q.save_quiz(c, quiz[i][0], quiz[i][1], questions),
            lambda i: [("q_save_quiz", {**uq(quiz, i), "questions": json.dumps(questions)})],
        ),
        Pattern(
            "put_cached_plan",
            "service_role",
            lambda i: None,
            lambda c, i: q.put_cached_plan(c, plan[i][0], plan_doc),
            lambda i: [
                (
                    "q_put_cached_plan",
                    {"cache_key": plan[i][0], "plan": json.dumps(plan_doc), "ttl": timedelta(hours=24)},
                )
            ],
        ),
    ]


def measure(conn: Conn, pattern: Pattern, n: int, pooled: Conn) -> dict[str, list[float]]:
    """Latencies of the variants, interleaved in rounds so drift hits them alike."""
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for w in range(WARMUP):
        for variant in VARIANTS:
            key = len(VARIANTS) * n + w * len(VARIANTS) + VARIANTS.index(variant)
            one(conn, pattern, variant, key, pooled)
    rounds = 4
    per = n // rounds
    for r in range(rounds):
        for v, variant in enumerate(VARIANTS):
            for k in range(per):
                key = v * n + r * per + k  # disjoint keys
                times[variant].append(one(conn, pattern, variant, key, pooled))
    return times


def throughput(url: str, conn: Conn, seconds: float) -> dict[str, float]:
    """Calls/s of 8 threads serving requests of one user each: latest_quiz, get_chat,
    append_chat_messages on one (user, topic); bare, library per call, library bound."""
    rows = keys(conn, "select user_id::uuid, topic_id from quizzes", 2000)
    message = [{"role": "user", "content": "hi"}]

    def library(c: Conn, u: UUID, t: str) -> None:
        q.latest_quiz(c, u, t)
        q.get_chat(c, u, t)
        q.append_chat_messages(c, u, t, message)

    def bound(c: Conn, u: UUID, t: str) -> None:
        with q.bind(c, u):
            library(c, u, t)

    def bare(c: Conn, u: UUID, t: str) -> None:
        key = {"user_id": str(u), "topic_id": t}
        run_bare(c, [("q_latest_quiz", key)])
        run_bare(c, [("q_get_chat", key)])
        run_bare(c, [("q_append_chat", {**key, "messages": json.dumps(message)})])

    def run(work: Callable[[Conn, UUID, str], None]) -> float:
        done = [0] * 8
        stop = time.perf_counter() + seconds

        def client(n: int) -> None:
            with psycopg.connect(url, autocommit=True) as c:
                i = n * 10_000
                while time.perf_counter() < stop:
                    u, t = rows[i % len(rows)]
                    work(c, u, t)
                    i += 1
                    done[n] += 3

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(done) / seconds

    return {"bare": run(bare), "library": run(library), "bound": run(bound)}


def main() -> None:
    users = int(os.environ.get("BENCH_QUERY_USERS", "42500"))
    n = int(os.environ.get("BENCH_QUERY_N", "400"))

    with (
        bench_dataset(users) as url,
        psycopg.connect(url, autocommit=True) as conn,
        connect(url, pooled=True) as pooled,
    ):
        policies = ensure_policies(conn, url)
        counts = conn.execute("select (select count(*) from quizzes), (select count(*) from tutor_chats)")
        quizzes, chats = counts.fetchone() or (0, 0)
        print(f"# queries: {users} users, {quizzes} quizzes, {chats} chats; RLS: {policies}")
        print(f"# {n} calls per variant; ratio = library time / the same SQL through bare psycopg")
        for pattern in patterns(conn, n):
            t = measure(conn, pattern, n, pooled)
            p50 = {v: percentile(t[v], 0.5) for v in VARIANTS}
            p99 = {v: percentile(t[v], 0.99) for v in VARIANTS}
            us = {v: f"{p50[v] * 1e6:.0f} us" for v in VARIANTS}
            print(
                f"# {pattern.name}: p50 bare {us['bare']}, library {us['library']}, bound {us['bound']}, "
                f"bare as the bound caller {us['bare_rls']}, bind+unbind {us['bind']}, "
                f"pooled {us['pooled']}, bare unprepared {us['bare_unprepared']}"
            )
            print(f"query_{pattern.name}_p50: {p50['library'] / p50['bare']:.2f}")
            print(f"query_{pattern.name}_p99: {p99['library'] / p99['bare']:.2f}")
            print(f"query_{pattern.name}_pooled_p50: {p50['pooled'] / p50['bare']:.2f}")
            print(f"query_{pattern.name}_pooled_p99: {p99['pooled'] / p99['bare']:.2f}")
            own = p50["pooled"] / p50["bare_unprepared"]
            print(f"query_{pattern.name}_pooled_vs_unprepared_p50: {own:.2f}")
            safety = p50["pooled"] / p50["bare_rls"]
            print(f"query_{pattern.name}_pooled_vs_bare_rls_p50: {safety:.2f}")
            print(f"query_{pattern.name}_bound_p50: {p50['bound'] / p50['bare']:.2f}")
            print(f"query_{pattern.name}_bound_p99: {p99['bound'] / p99['bare']:.2f}")
            print(f"query_{pattern.name}_bound_vs_bare_rls_p50: {p50['bound'] / p50['bare_rls']:.2f}")
            print(f"query_{pattern.name}_rls_only_p50: {p50['bare_rls'] / p50['bare']:.2f}")
            request = p50["bind"] + 5 * p50["bound"]
            print(f"query_{pattern.name}_request5_p50: {request / (5 * p50['bare']):.2f}")
        ops = throughput(url, conn, float(os.environ.get("BENCH_QUERY_SECONDS", "5")))
        print(
            "# 8 clients, requests of latest_quiz + get_chat + append_chat_messages for one user: "
            + ", ".join(f"{k} {v:.0f} calls/s" for k, v in ops.items())
        )
        print(f"queries_throughput_8_clients: {ops['bare'] / ops['library']:.2f}")
        print(f"queries_throughput_8_clients_bound: {ops['bare'] / ops['bound']:.2f}")


if __name__ == "__main__":
    main()
