"""Behind a real transaction-mode PgBouncer (pool of 2): the application's path stays correct,
the operator's path refuses the pooled URL and changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from ops import queries as q
from ops.db import connect
from tests.conftest import SERVER, Database
from tests.pooler import Pooler, pgbouncer
from tests.server import ROOT

CLIENTS, REQUESTS = 8, 150
WHO = "select current_user, current_setting('request.jwt.claims', true), app.current_user_id()"


@pytest.fixture(scope="module")
def pooler() -> Iterator[Pooler]:
    with pgbouncer(SERVER, {SERVER.user: ""}) as running:
        yield running


def _client(url: str, index: int, errors: list[str], barrier: threading.Barrier) -> None:
    """One application process: its own user, session and quiz, then requests through the pool."""
    try:
        with connect(url, pooled=True) as conn:
            me = q.login(conn, f"pooled-{index}")
            sid = q.start_session(conn, me, "GRE")
            q.save_quiz(conn, me, "topic", [{"question": str(me)}])
            barrier.wait()
            for n in range(REQUESTS):
                _request(conn, me, sid, bound=n % 2 == 0)
    except Exception as exc:
        errors.append(f"client {index}: {type(exc).__name__}: {exc}")


def _request(conn: psycopg.Connection[Any], me: UUID, sid: UUID, *, bound: bool) -> None:
    if bound:
        with q.bind(conn, me):
            assert conn.execute(WHO).fetchone()[::2] == ("authenticated", me)  # type: ignore[index]
            state = q.load_session(conn, me, sid)
            quiz = q.latest_quiz(conn, me, "topic")
            q.log_action(conn, me, sid, "planner_called", {"n": 1})
    else:
        # outside a binding nothing of anyone is in force on whatever server connection this gets
        login, claims, user = conn.execute(WHO).fetchone()  # type: ignore[misc]
        assert (login, claims or None, user) == (SERVER.user, None, None), (login, claims, user)
        state = q.load_session(conn, me, sid)
        quiz = q.latest_quiz(conn, me, "topic")
    assert state.session_id == sid and state.user_id == me, (state, me)
    assert quiz is not None and quiz.questions == [{"question": str(me)}], (quiz, me)


def test_clients_through_the_pool_see_only_their_own_caller_and_rows(db: Database, pooler: Pooler) -> None:
    url = pooler.url(db.conn.info.dbname)
    errors: list[str] = []
    barrier = threading.Barrier(CLIENTS)
    threads = [threading.Thread(target=_client, args=(url, i, errors, barrier)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # every request went through the pool: the clients shared its 2 server connections
    assert db.scalar("select count(*) from study_sessions") == CLIENTS
    logged = db.scalar("select sum(cardinality(agent_history)) from study_sessions")
    assert logged == CLIENTS * REQUESTS // 2


def _empty_database(name: str) -> str:
    with psycopg.connect(SERVER.url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return SERVER.url(name)


def _dbops(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DBOPS_", "PG", "DATABASE_URL"))}
    return subprocess.Popen(
        [sys.executable, "-m", "ops", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _objects(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select n.nspname || '.' || c.relname from pg_class as c"
            " inner join pg_namespace as n on c.relnamespace = n.oid"
            " where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') order by 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_four_concurrent_migrates_through_the_pool_are_refused_and_change_nothing(pooler: Pooler) -> None:
    name = f"dbops_pooled_{os.getpid()}"
    direct = _empty_database(name)
    try:
        runs = [_dbops("--database-url", pooler.url(name), "migrate") for _ in range(4)]
        outcomes = [(run.wait(timeout=120), run.stderr.read() if run.stderr else "") for run in runs]
        for run in runs:
            for stream in (run.stdout, run.stderr):
                if stream is not None:
                    stream.close()
        for code, stderr in outcomes:
            assert code == 2, stderr
            assert stderr.startswith("Error: dbops needs one server session for its whole run"), stderr
            assert "--direct-url or DBOPS_DIRECT_URL" in stderr, stderr
        assert _objects(direct) == []
        # the same run with the direct URL next to the application's pooled one
        run = _dbops("--database-url", pooler.url(name), "--direct-url", direct, "migrate")
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        assert "public.quizzes" in _objects(direct)
    finally:
        with psycopg.connect(SERVER.url("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def test_a_url_marked_pooled_is_refused_before_anything_runs(db: Database, run_cli: Any) -> None:
    result = run_cli("status", url=db.url, env={"DBOPS_POOLED": "true"})
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: dbops needs one server session for its whole run, and the URL is marked pooled"
    )
    direct = run_cli("status", url=db.url, env={"DBOPS_POOLED": "true", "DBOPS_DIRECT_URL": db.url})
    assert direct.exit_code == 0
    assert run_cli("status", url=db.url).exit_code == 0  # the test server's socket: direct


def test_retention_leaves_no_session_setting_behind(db: Database) -> None:
    from ops.retention import apply_rules
    from ops.retention.rules import configured_rules, run_settings, select_rules

    before = db.conn.execute("select current_setting('lock_timeout'), current_setting('statement_timeout')")
    expected = before.fetchone()
    rules = select_rules(configured_rules({}), None)
    apply_rules(db.conn, rules, run_settings({}))
    after = db.conn.execute("select current_setting('lock_timeout'), current_setting('statement_timeout')")
    assert after.fetchone() == expected


def test_pooled_connections_prepare_nothing(db: Database) -> None:
    with connect(db.url, pooled=True) as conn:
        me = q.login(conn, "alice")
        for _ in range(10):
            q.latest_quiz(conn, me, "topic")
        assert conn.execute("select count(*) from pg_prepared_statements").fetchone() == (0,)
        setting = conn.execute(
            "select setting, source from pg_settings where name = 'client_connection_check_interval'"
        )
        assert setting.fetchone() == ("0", "default")
    with connect(db.url) as conn:  # a direct connection prepares the statements it repeats
        me = q.login(conn, "alice")
        for _ in range(10):
            q.latest_quiz(conn, me, "topic")
        prepared = conn.execute("select count(*) from pg_prepared_statements").fetchone()
        assert prepared is not None and prepared[0] > 0
