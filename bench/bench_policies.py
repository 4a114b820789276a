"""Benchmarks of row-level security, each a ratio against a raw baseline from the same run.

- policies_apply: `ops.policies.apply` (migrate lock, per-file state checks, bookkeeping)
  vs executing the same drop/create statements raw in one transaction;
- rls_owner_select: a user's own quizzes read through RLS (`acting_as`, the policy's
  InitPlan) vs the same rows by an explicit WHERE as the table owner, 20 000 quizzes of
  2 000 users (the acting-as transaction costs two statements more than the raw one);
- rls_predicate_only: the same query with role and claims set once, so only the policy's
  predicate differs from the raw WHERE.
"""

from __future__ import annotations

import os

from psycopg import sql

from bench.common import ROOT, connect, fresh_database, median_seconds, report, server_url
from ops import policies
from ops.config import load_settings
from ops.db import Conn
from ops.deploy import deploy
from ops.policies import qualified, read_states
from ops.queries.rls import acting_as

_best = median_seconds


def _raw_apply(conn: Conn, files: list[policies.PolicyFile]) -> None:
    with conn.transaction():
        states = read_states(conn, [f.table for f in files])
        for f in files:
            for p in states[f.table].policies:
                drop = sql.SQL("drop policy {} on {}").format(sql.Identifier(p.name), qualified(f.table))
                conn.execute(drop)
            for st in f.statements():
                conn.execute(st.sql.encode())


def main() -> None:
    with fresh_database(server_url()) as url, connect(url) as conn:
        settings = load_settings({"database_url": url}, os.environ, ROOT)
        deploy(conn, settings)
        files = policies.read_policy_dir(settings.policies_dir)
        policies.apply(conn, settings)  # warm the statement cache
        tool = _best(lambda: policies.apply(conn, settings), 7)
        raw = _best(lambda: _raw_apply(conn, files), 7)
        report("policies_apply", tool / raw, "12 files, vs the same statements raw in one transaction")

        conn.execute(
            "insert into quizzes (user_id, topic_id, questions)"
            " select (md5((i % 2000)::text))::uuid::text, 't' || i, '[]' from generate_series(1, 20000) as i"
        )
        conn.execute("analyze quizzes")
        user = conn.execute("select user_id from quizzes limit 1").fetchone()
        assert user is not None

        def through_rls() -> None:
            with acting_as(conn, user[0]):
                conn.execute("select count(*) from quizzes").fetchone()

        def raw_where() -> None:
            with conn.transaction():
                conn.execute("select count(*) from quizzes where user_id = %s", (user[0],)).fetchone()

        for _ in range(20):
            through_rls()
            raw_where()
        ratio = _best(through_rls, 200) / _best(raw_where, 200)
        report("rls_owner_select", ratio, "acting_as transaction vs explicit WHERE as owner")

        # the policy's predicate alone: the same query, role and claims set once
        def count_only() -> None:
            conn.execute("select count(*) from quizzes").fetchone()

        def count_where() -> None:
            conn.execute("select count(*) from quizzes where user_id = %s", (user[0],)).fetchone()

        with acting_as(conn, user[0]):
            rls_only = _best(count_only, 300)
        report("rls_predicate_only", rls_only / _best(count_where, 300), "policy predicate vs explicit WHERE")


if __name__ == "__main__":
    main()
