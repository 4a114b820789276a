"""Retention benchmarks: `dbops evict` / `dbops archive` against plain SQL on the same data, same run.

    python -m bench.bench_retention            # BENCH_SCALE=1 for the full 2M / 1M rows

Prints `name: value` lines:
- evict_rows_per_s_ratio: `dbops evict` rows/s ÷ one plain `DELETE ... WHERE expires_at < now()`
  (plan_cache, 2M rows at scale 1, made over 48 hours with the 24-hour TTL, every other row
  expired, so expired and live rows interleave on every page); target >= 0.4. The dbops side
  is the real command in a subprocess, start-up, catalog checks and backlog counts included.
- evict_p99_batch_ms: p99 duration of dbops' eviction batches; target <= 100
- reader_p99_ratio: p99 latency of a concurrent point reader during eviction ÷ idle
- archive_rows_per_s_ratio: `dbops archive quizzes` rows/s ÷ one INSERT ... SELECT plus DELETE
  (1M quizzes archived at scale 1)
- *_engine_* ratios: the same, timed by the rule's own duration (catalog checks, backlog
  counts and batches; interpreter start-up and connecting excluded)
- empty_archive_batch_ratio: after the archive, every group's newest quiz is left, all
  older than the rule's cutoff; a second `dbops archive quizzes` finds nothing. Its
  longest batch ÷ one plain count of the eligible quizzes (the same walk over the kept
  rows): 1 or more when a batch steps over every kept row, small when batches examine a
  bounded window each; target: the longest batch within batch_time (100 ms)

The server: BENCH_DATABASE_URL, else the embedded server under .dbops/bench. Data is made
with generate_series in a scratch database that is dropped at the end.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ops.db import Conn

ROOT = Path(__file__).resolve().parent.parent
DBNAME = "dbops_bench_retention"
# Scale 1 is the size (2M plan_cache rows, 1M quizzes archived); it takes about ten
# minutes on a 2-core machine, mostly loading data, so the default is a quarter of it.
SCALE = float(os.environ.get("BENCH_SCALE", "0.25"))
PLAN_ROWS = int(2_000_000 * SCALE)
QUIZ_GROUPS = int(100_000 * SCALE)  # 11 quizzes each: 10 archived, the newest kept


def _server_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        return url
    from ops import embedded

    return embedded.ensure_running(ROOT / ".dbops" / "bench")


def _setup(admin_url: str) -> str:
    from ops import migrations
    from ops.config import load_settings

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(DBNAME)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(DBNAME)))
    url = make_conninfo(admin_url, dbname=DBNAME)
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn, load_settings({"database_url": url}, {}, ROOT))
    return url


def _seed(conn: Conn) -> None:
    conn.execute(
        "create table seed_plan_cache as select id, cache_key, plan, created_at,"
        " created_at + interval '24 hours' as expires_at from ("
        " select gen_random_uuid() as id, 'key-' || g as cache_key,"
        " jsonb_build_object('step', g, 'topics', jsonb_build_array('a', 'b', 'c')) as plan,"
        # made over the last 48 hours, the TTL's 24 h apart: every other row has expired
        " now() - case when g %% 2 = 0 then interval '24 hours' else interval '0' end"
        " - (g::float8 / %(rows)s) * interval '23 hours' as created_at"
        " from generate_series(1, %(rows)s) as g) as made",
        {"rows": PLAN_ROWS},
    )
    conn.execute(
        "create table seed_quizzes as select gen_random_uuid() as id,"
        " 'user-' || (g %% %(groups)s) as user_id,"
        " 'topic-1' as topic_id, jsonb_build_array(jsonb_build_object('q', g)) as questions,"
        " now() - (100 + g / %(groups)s) * interval '1 day' as created_at"
        " from generate_series(0, %(groups)s * 11 - 1) as g",
        {"groups": QUIZ_GROUPS},
    )


def _reload(conn: Conn, table: str) -> None:
    name, seed = sql.Identifier(table), sql.Identifier(f"seed_{table}")
    conn.execute(sql.SQL("truncate {}").format(name))
    if table == "quizzes":
        conn.execute("truncate archive.quizzes")
    conn.execute(sql.SQL("insert into {} select * from {}").format(name, seed))
    conn.execute(sql.SQL("vacuum analyze {}").format(name))
    conn.execute("checkpoint")


def _dbops(url: str, *args: str) -> tuple[float, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBOPS_", "PG")) and k != "DATABASE_URL"}
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "ops", "--database-url", url, "--json", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    elapsed = time.perf_counter() - started
    return elapsed, json.loads(out.splitlines()[-1])


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _reader(url: str, stop: threading.Event, latencies: list[float]) -> None:
    rng = random.Random(7)
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            key = f"key-{2 * rng.randrange(1, PLAN_ROWS // 2) + 1}"
            t0 = time.perf_counter()
            conn.execute("select plan from plan_cache where cache_key = %s", (key,)).fetchone()
            latencies.append(time.perf_counter() - t0)


def _read_while(url: str, action: Any) -> tuple[float, Any]:
    stop, latencies = threading.Event(), list[float]()
    thread = threading.Thread(target=_reader, args=(url, stop, latencies))
    thread.start()
    try:
        result = action()
    finally:
        stop.set()
        thread.join()
    return _p99(latencies), result


def bench_evict(url: str, conn: Conn) -> None:
    _reload(conn, "plan_cache")
    expired = conn.execute("select count(*) from plan_cache where expires_at < now()").fetchone()[0]  # type: ignore[index]
    t0 = time.perf_counter()
    conn.execute("delete from plan_cache where expires_at < now()")
    plain = time.perf_counter() - t0

    _reload(conn, "plan_cache")
    elapsed, summary = _dbops(url, "evict")
    rule = summary["rules"][0]
    assert rule["rows"] == expired, rule
    print(f"evict_rows: {expired} (plan_cache {PLAN_ROWS} rows, scale {SCALE})")
    print(f"evict_plain_delete_s: {plain:.2f}")
    print(f"evict_dbops_s: {elapsed:.2f} (batches {rule['batches']}, process start-up included)")
    print(f"evict_rows_per_s_ratio: {plain / elapsed:.3f}")
    print(f"evict_engine_rows_per_s_ratio: {plain / rule['duration_s']:.3f} (start-up excluded)")
    print(f"evict_p99_batch_ms: {rule['p99_batch_ms']:.1f} (max {rule['max_batch_ms']:.1f})")

    _reload(conn, "plan_cache")
    idle, _ = _read_while(url, lambda: time.sleep(3))
    during, _ = _read_while(url, lambda: _dbops(url, "evict"))
    print(f"reader_p99_idle_ms: {idle * 1000:.3f}")
    print(f"reader_p99_during_evict_ms: {during * 1000:.3f}")
    print(f"reader_p99_ratio: {during / idle:.2f}")


QUIZ_ELIGIBLE = sql.SQL(
    "q.created_at < now() - interval '90 days' and exists (select from quizzes as n"
    " where n.user_id = q.user_id and n.topic_id = q.topic_id"
    " and (n.created_at, n.id) > (q.created_at, q.id))"
)


def bench_archive(url: str, conn: Conn) -> None:
    _reload(conn, "quizzes")
    eligible = QUIZ_ELIGIBLE
    cols = sql.SQL("id, user_id, topic_id, questions, created_at")
    t0 = time.perf_counter()
    with conn.transaction():
        moved = conn.execute(
            sql.SQL("insert into archive.quizzes ({}) select {} from quizzes as q where {}").format(
                cols, cols, eligible
            )
        ).rowcount
        conn.execute(sql.SQL("delete from quizzes as q where {}").format(eligible))
    plain = time.perf_counter() - t0

    _reload(conn, "quizzes")
    elapsed, summary = _dbops(url, "archive", "quizzes")
    rule = summary["rules"][0]
    assert rule["rows"] == moved, (rule, moved)
    print(f"archive_rows: {moved} (quizzes {QUIZ_GROUPS * 11} rows, scale {SCALE})")
    print(f"archive_plain_s: {plain:.2f}")
    print(
        f"archive_dbops_s: {elapsed:.2f} (batches {rule['batches']}, p99 batch {rule['p99_batch_ms']:.1f} ms)"
    )
    print(f"archive_rows_per_s_ratio: {plain / elapsed:.3f}")
    print(f"archive_engine_rows_per_s_ratio: {plain / rule['duration_s']:.3f} (start-up excluded)")


def bench_empty_archive(url: str, conn: Conn) -> None:
    """Right after bench_archive: nothing is eligible, and one kept quiz per group is old."""
    conn.execute("vacuum analyze quizzes")
    old = "select count(*) from quizzes where created_at < now() - interval '90 days'"
    kept = conn.execute(old).fetchone()
    t0 = time.perf_counter()
    found = conn.execute(
        sql.SQL("select count(*) from quizzes as q where {}").format(QUIZ_ELIGIBLE)
    ).fetchone()
    plain_ms = (time.perf_counter() - t0) * 1000
    assert found == (0,), found
    _, summary = _dbops(url, "archive", "quizzes")
    rule = summary["rules"][0]
    assert rule["rows"] == 0, rule
    print(f"empty_archive_kept_rows: {kept[0] if kept else 0} (old, each its group's newest)")
    print(f"empty_archive_plain_count_ms: {plain_ms:.1f}")
    batches = f"{rule['batches']} batches; batch_time 100"
    print(f"empty_archive_max_batch_ms: {rule['max_batch_ms']:.1f} ({batches})")
    print(f"empty_archive_batch_ratio: {rule['max_batch_ms'] / plain_ms:.3f} (longest batch ÷ plain count)")
    print(
        f"empty_archive_engine_ratio: {rule['duration_s'] * 1000 / plain_ms:.2f}"
        " (the whole empty rule, its two backlog counts included, ÷ plain count)"
    )


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    admin = _server_url()
    started = time.perf_counter()
    url = _setup(admin)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            _seed(conn)
            bench_evict(url, conn)
            bench_archive(url, conn)
            bench_empty_archive(url, conn)
    finally:
        with psycopg.connect(admin, autocommit=True) as admin_conn:
            admin_conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(DBNAME))
            )
    print(f"retention_bench_total_s: {time.perf_counter() - started:.1f}")


if __name__ == "__main__":
    main()
