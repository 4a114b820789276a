"""Sample-data generation (generate + COPY) vs a plain COPY of the very same rows.

Run: `python -m bench.bench_sample` (BENCH_DATABASE_URL, else the embedded server in .dbops/bench). Size with
BENCH_SAMPLE_USERS (default 4000 users, about 210k rows: the default mix scaled so the run
stays under a minute on a 2-core machine; 19000 users is about 1M rows, 42500 users about
1M quizzes and 2.3M rows) and BENCH_SAMPLE_RUNS (default 2, best run counts). The plain COPY
gets the very rows the tool generates, pre-generated in memory (about 1.2 GB per 1M rows).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from psycopg import sql

from bench.common import ROOT, connect, server_url
from ops.db import Conn

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)


@contextmanager
def migrated_database(name: str) -> Iterator[str]:
    """A migrated scratch database on the bench server (BENCH_DATABASE_URL or .dbops/bench)."""
    from ops import migrations
    from ops.config import load_settings
    from ops.migrations import scratch_database

    with scratch_database(server_url(), name) as url:
        with connect(url) as conn:
            migrations.migrate(conn, load_settings({"database_url": url}, {}, ROOT))
        yield url


def truncate_all(conn: Conn) -> None:
    from ops.sample import TABLES

    conn.execute(sql.SQL("truncate {} cascade").format(sql.SQL(", ").join(map(sql.Identifier, TABLES))))


def main() -> None:
    from ops.sample import copy_chunk, generate_rows, load_sample_data

    users = int(os.environ.get("BENCH_SAMPLE_USERS", "4000"))
    runs = int(os.environ.get("BENCH_SAMPLE_RUNS", "2"))
    with migrated_database("dbops_bench_sample") as url, connect(url) as conn:
        started = time.perf_counter()
        chunks = list(generate_rows(users, seed=1, anchor=ANCHOR))
        generation = time.perf_counter() - started
        rows = sum(c.rows for c in chunks)
        size = sum(len(c.data) for c in chunks)
        tool, raw = [], []
        for _ in range(runs):
            truncate_all(conn)
            conn.execute("checkpoint")
            report = load_sample_data(conn, users, seed=1, anchor=ANCHOR)
            tool.append(report.seconds)
            truncate_all(conn)
            conn.execute("checkpoint")
            started = time.perf_counter()
            with conn.transaction():
                for chunk in chunks:
                    copy_chunk(conn, chunk)
            raw.append(time.perf_counter() - started)
        truncate_all(conn)
        best_tool, best_raw = min(tool), min(raw)
        print(
            f"# sample-data: {users} users, {rows} rows, {size / 1e6:.0f} MB of binary COPY; "
            f"best of {runs} runs (tool {', '.join(f'{t:.1f}' for t in tool)} s; "
            f"plain COPY {', '.join(f'{t:.1f}' for t in raw)} s)"
        )
        print(f"sample_data_rows_per_s: {rows / best_tool:.0f}")
        print(f"plain_copy_rows_per_s: {rows / best_raw:.0f}")
        print(f"sample_data_generation_vs_plain_copy: {best_tool / best_raw:.2f}")
        print(f"sample_data_seconds_per_million_rows: {best_tool * 1e6 / rows:.1f}")
        print(f"plain_copy_seconds_per_million_rows: {best_raw * 1e6 / rows:.1f}")
        print(f"sample_data_python_generation_only_rows_per_s: {rows / generation:.0f}")


if __name__ == "__main__":
    main()
