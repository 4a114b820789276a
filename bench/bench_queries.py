"""Each access pattern of ops.queries vs the same SQL through bare psycopg.

For every pattern it times the library call (validation, the acting-as transaction with
RLS, the query) against two baselines on the same data in the same run:
  bare      - the same statements, prepared, autocommit, as the table owner (the floor);
  rls_floor - the same, inside the one transaction that sets role and claims (the least
              any RLS-aware caller pays).
It prints `query_<pattern>_p50|p99: ratio` (library / bare), the ratio to the RLS floor,
and throughput with 8 concurrent clients (bare ops/s / library ops/s). The generator's
rows/s vs plain COPY is bench/bench_sample.py.

Run: `python -m bench.bench_queries`. Size: BENCH_QUERY_USERS (default 4000 users, about
100k quizzes and 19k chats; the issue's 1M quizzes / 200k chats is about 42000 users and
takes several minutes to load on a 2-core machine), BENCH_QUERY_N (default 400 calls).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg

from bench.bench_sample import migrated_database
from ops import queries as q
from ops.sqlfiles import query

Conn = psycopg.Connection[Any]
Statements = list[tuple[str, dict[str, Any]]]
WARMUP = 10  # calls per variant before timing: psycopg prepares a statement on its 5th use


@dataclass
class Pattern:
    name: str
    role: str  # the role the library acts as: authenticated, anon or service_role
    call: Callable[[Conn, int], object]  # the library call for iteration i
    statements: Callable[[int], tuple[UUID | None, Statements]]  # the same SQL: (user, [(file, params)])


def ensure_policies(conn: Conn) -> str:
    """Owner-only policies as the project ships them; the tests' copy when none are applied."""
    count = conn.execute("select count(*) from pg_policies where tablename = 'study_sessions'").fetchone()
    if count and count[0]:
        return "the project's policies"
    from tests.owner_only import apply_owner_only

    apply_owner_only(conn)
    return "owner-only test policies (no policies/ applied)"


def run_bare(conn: Conn, stmts: Statements) -> None:
    if len(stmts) == 1:
        conn.execute(query(stmts[0][0]), stmts[0][1], prepare=True).fetchall()
        return
    with conn.transaction():
        for name, params in stmts:
            conn.execute(query(name), params, prepare=True).fetchall()


def run_rls_floor(conn: Conn, role: str, user: UUID | None, stmts: Statements) -> None:
    claims = json.dumps({"role": role} if user is None else {"sub": str(user), "role": role})
    with conn.transaction():
        conn.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
            (role, claims),
            prepare=True,
        )
        for name, params in stmts:
            conn.execute(query(name), params, prepare=True).fetchall()


def run_one_round_trip(conn: Conn, role: str, user: UUID | None, stmts: Statements) -> None:
    """The RLS floor sent as one pipeline: begin, role and claims, the statements, commit."""
    claims = json.dumps({"role": role} if user is None else {"sub": str(user), "role": role})
    with conn.pipeline():
        conn.execute("begin")
        conn.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
            (role, claims),
            prepare=True,
        )
        cursors = [conn.execute(query(name), params, prepare=True) for name, params in stmts]
        conn.execute("commit")
    for cursor in cursors:
        cursor.fetchall()


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
    quiz = keys(conn, "select user_id::uuid, topic_id from quizzes", 4 * n + WARMUP)
    chat = keys(conn, "select user_id::uuid, topic_id from tutor_chats", 4 * n + WARMUP)
    sess = keys(conn, "select user_id, id from study_sessions", 4 * n + WARMUP)
    mis = keys(conn, "select distinct user_id from misconceptions", 4 * n + WARMUP)
    plan = keys(conn, "select cache_key from plan_cache where expires_at > now()", 4 * n + WARMUP)
    topic = keys(
        conn,
        "select s.user_id, t.id from topics t join study_sessions s on s.id = t.session_id",
        4 * n + WARMUP,
    )
    names = keys(conn, "select name from users", 4 * n + WARMUP)
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

    def save_session_stmts(i: int) -> tuple[UUID | None, Statements]:
        user, sid = sess[i]
        phase, action = transition(sid)
        return user, [
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
            lambda c, i: q.latest_quiz(c, quiz[i][0], quiz[i][1]),
            lambda i: (quiz[i][0], [("q_latest_quiz", uq(quiz, i))]),
        ),
        Pattern(
            "get_chat",
            "authenticated",
            lambda c, i: q.get_chat(c, chat[i][0], chat[i][1]),
            lambda i: (chat[i][0], [("q_get_chat", uq(chat, i))]),
        ),
        Pattern(
            "load_session",
            "authenticated",
            lambda c, i: q.load_session(c, sess[i][0], sess[i][1]),
            lambda i: (sess[i][0], [("q_load_session", {"session_id": sess[i][1], "with_history": False})]),
        ),
        Pattern(
            "get_cached_plan",
            "authenticated",
            lambda c, i: q.get_cached_plan(c, sess[i][0], plan[i][0]),
            lambda i: (sess[i][0], [("q_get_cached_plan", {"cache_key": plan[i][0]})]),
        ),
        Pattern(
            "recent_misconceptions",
            "authenticated",
            lambda c, i: q.recent_misconceptions(c, mis[i][0]),
            lambda i: (mis[i][0], [("q_recent_misconceptions", {"user_id": mis[i][0], "limit": 20})]),
        ),
        Pattern(
            "progress",
            "authenticated",
            lambda c, i: q.progress(c, mis[i][0]),
            lambda i: (mis[i][0], [("q_progress", {"user_id": mis[i][0]})]),
        ),
        Pattern(
            "login",
            "anon",
            lambda c, i: q.login(c, names[i][0]),
            lambda i: (None, [("q_login", {"name": names[i][0]})]),
        ),
        Pattern(
            "start_session",
            "authenticated",
            lambda c, i: q.start_session(c, sess[i][0], "GATE CSE"),
            lambda i: (
                sess[i][0],
                [("q_start_session", {"user_id": sess[i][0], "exam_type": "GATE CSE", "metadata": None})],
            ),
        ),
        Pattern("save_session", "authenticated", save_session_call, save_session_stmts),
        Pattern(
            "log_action",
            "authenticated",
            lambda c, i: q.log_action(c, sess[i][0], sess[i][1], "hint", {"i": 1}),
            lambda i: (
                sess[i][0],
                [("q_log_action", {"session_id": sess[i][1], "action": "hint", "payload": '{"i": 1}'})],
            ),
        ),
        Pattern(
            "add_topics",
            "authenticated",
            lambda c, i: q.add_topics(c, sess[i][0], sess[i][1], [f"bench-{i}"]),
            lambda i: (
                sess[i][0],
                [
                    ("q_lock_session", {"session_id": sess[i][1], "names": [f"bench-{i}"]}),
                    ("q_add_topics", {"session_id": sess[i][1], "names": [f"bench-{i}"]}),
                ],
            ),
        ),
        Pattern(
            "set_mastery",
            "authenticated",
            lambda c, i: q.set_mastery(c, topic[i][0], topic[i][1], 50, "in_progress"),
            lambda i: (
                topic[i][0],
                [("q_set_mastery", {"topic_id": topic[i][1], "score": 50, "status": "in_progress"})],
            ),
        ),
        Pattern(
            "record_misconceptions",
            "authenticated",
            lambda c, i: q.record_misconceptions(c, topic[i][0], topic[i][1], ["confuses a with b"]),
            lambda i: (
                topic[i][0],
                [
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
        ),
        Pattern(
            "save_chat",
            "authenticated",
            lambda c, i: q.save_chat(c, chat[i][0], chat[i][1], message, "e"),
            lambda i: (
                chat[i][0],
                [("q_save_chat", {**uq(chat, i), "messages": json.dumps(message), "explanation": "e"})],
            ),
        ),
        Pattern(
            "append_chat_messages",
            "authenticated",
            lambda c, i: q.append_chat_messages(c, chat[i][0], chat[i][1], message),
            lambda i: (chat[i][0], [("q_append_chat", {**uq(chat, i), "messages": json.dumps(message)})]),
        ),
        Pattern(
            "save_quiz",
            "authenticated",
            lambda c, i: q.save_quiz(c, quiz[i][0], quiz[i][1], questions),
            lambda i: (quiz[i][0], [("q_save_quiz", {**uq(quiz, i), "questions": json.dumps(questions)})]),
        ),
        Pattern(
            "put_cached_plan",
            "service_role",
            lambda c, i: q.put_cached_plan(c, plan[i][0], plan_doc),
            lambda i: (
                None,
                [
                    (
                        "q_put_cached_plan",
                        {"cache_key": plan[i][0], "plan": json.dumps(plan_doc), "ttl": timedelta(hours=24)},
                    )
                ],
            ),
        ),
    ]


def measure(conn: Conn, pattern: Pattern, n: int) -> dict[str, list[float]]:
    """Latencies of the three variants, interleaved in rounds so drift hits them alike."""
    times: dict[str, list[float]] = {"library": [], "bare": [], "rls_floor": [], "one_round_trip": []}
    for w in range(WARMUP):
        pattern.call(conn, 4 * n + w)
        user, stmts = pattern.statements(4 * n + w)
        run_bare(conn, stmts)
        run_rls_floor(conn, pattern.role, user, stmts)
        run_one_round_trip(conn, pattern.role, user, stmts)
    rounds = 4
    per = n // rounds
    for r in range(rounds):
        for v, variant in enumerate(times):
            for k in range(per):
                i = v * n + r * per + k  # disjoint keys per variant
                if variant == "library":
                    start = time.perf_counter()
                    pattern.call(conn, i)
                else:
                    user, stmts = pattern.statements(i)
                    start = time.perf_counter()
                    if variant == "bare":
                        run_bare(conn, stmts)
                    elif variant == "rls_floor":
                        run_rls_floor(conn, pattern.role, user, stmts)
                    else:
                        run_one_round_trip(conn, pattern.role, user, stmts)
                times[variant].append(time.perf_counter() - start)
    return times


def throughput(url: str, conn: Conn, seconds: float) -> tuple[float, float]:
    """ops/s of a mixed read/write workload in 8 threads: library vs bare."""
    rows = keys(conn, "select user_id::uuid, topic_id from quizzes", 2000)
    chats = keys(conn, "select user_id::uuid, topic_id from tutor_chats", 2000)

    def library(c: Conn, i: int) -> None:
        u, t = rows[i % len(rows)]
        q.latest_quiz(c, u, t)
        cu, ct = chats[i % len(chats)]
        q.get_chat(c, cu, ct)
        q.append_chat_messages(c, cu, ct, [{"role": "user", "content": "hi"}])

    def bare(c: Conn, i: int) -> None:
        u, t = rows[i % len(rows)]
        run_bare(c, [("q_latest_quiz", {"user_id": str(u), "topic_id": t})])
        cu, ct = chats[i % len(chats)]
        run_bare(c, [("q_get_chat", {"user_id": str(cu), "topic_id": ct})])
        run_bare(
            c,
            [
                (
                    "q_append_chat",
                    {"user_id": str(cu), "topic_id": ct, "messages": '[{"role": "user", "content": "hi"}]'},
                )
            ],
        )

    def run(work: Callable[[Conn, int], None]) -> float:
        done = [0] * 8
        stop = time.perf_counter() + seconds

        def client(n: int) -> None:
            with psycopg.connect(url, autocommit=True) as c:
                i = n * 10_000
                while time.perf_counter() < stop:
                    work(c, i)
                    i += 1
                    done[n] += 3

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(done) / seconds

    return run(library), run(bare)


def main() -> None:
    users = int(os.environ.get("BENCH_QUERY_USERS", "4000"))
    n = int(os.environ.get("BENCH_QUERY_N", "400"))
    from ops.sample import load_sample_data

    with migrated_database("dbops_bench_queries") as url, psycopg.connect(url, autocommit=True) as conn:
        policies = ensure_policies(conn)
        report = load_sample_data(conn, users, seed=1)  # anchored now: plan_cache rows still valid
        print(
            f"# queries: {users} users, {report.rows['quizzes']} quizzes, {report.rows['tutor_chats']} chats "
            f"(loaded in {report.seconds:.0f} s); RLS: {policies}; {n} calls per variant"
        )
        if report.rows["quizzes"] < 1_000_000:
            print(
                "# scaled down from the issue's 1M quizzes / 200k chats to keep the run short on 2 cores; "
                "BENCH_QUERY_USERS=42000 approaches it"
            )
        print("# ratio = library time / the same SQL through bare psycopg (prepared, autocommit)")
        for pattern in patterns(conn, n):
            t = measure(conn, pattern, n)
            lib50, lib99 = percentile(t["library"], 0.5), percentile(t["library"], 0.99)
            bare50, bare99 = percentile(t["bare"], 0.5), percentile(t["bare"], 0.99)
            floor50 = percentile(t["rls_floor"], 0.5)
            one50 = percentile(t["one_round_trip"], 0.5)
            print(
                f"# {pattern.name}: library p50 {lib50 * 1e6:.0f} us, bare {bare50 * 1e6:.0f} us, "
                f"rls floor {floor50 * 1e6:.0f} us, rls in one round trip {one50 * 1e6:.0f} us"
            )
            print(f"query_{pattern.name}_p50: {lib50 / bare50:.2f}")
            print(f"query_{pattern.name}_p99: {lib99 / bare99:.2f}")
            print(f"query_{pattern.name}_p50_vs_rls_floor: {lib50 / floor50:.2f}")
            print(f"query_{pattern.name}_p50_one_round_trip_rls_vs_bare: {one50 / bare50:.2f}")
        lib_ops, bare_ops = throughput(url, conn, float(os.environ.get("BENCH_QUERY_SECONDS", "5")))
        print(
            f"# 8 clients, mixed latest_quiz/get_chat/append_chat_messages: library {lib_ops:.0f} ops/s, "
            f"bare {bare_ops:.0f} ops/s"
        )
        print(f"queries_throughput_8_clients: {bare_ops / lib_ops:.2f}")


if __name__ == "__main__":
    main()
