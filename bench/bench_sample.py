"""Sample-data generation (generate + COPY) vs a plain COPY of the very same rows.

Run: `python -m bench.bench_sample` (DATABASE_URL, else the embedded server). Size with
BENCH_SAMPLE_USERS (default 4000 users, about 240k rows: the full default mix scaled so the
run stays under a minute on a 2-core machine).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)


def server_url() -> str:
    from ops.config import load_settings
    from ops.db import resolve_url

    return resolve_url(load_settings({}, os.environ, ROOT))


@contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """A migrated scratch database on the bench server, dropped afterwards."""
    from ops import migrate
    from ops.config import load_settings
    from ops.db import with_database

    base = server_url()
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = with_database(base, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            migrate.migrate(conn, load_settings({"database_url": url}, {}, ROOT))
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def truncate_all(conn: psycopg.Connection[Any]) -> None:
    from ops.sample import TABLES

    conn.execute(sql.SQL("truncate {} cascade").format(sql.SQL(", ").join(map(sql.Identifier, TABLES))))


def main() -> None:
    from ops.sample import copy_chunk, generate_rows, load_sample_data

    users = int(os.environ.get("BENCH_SAMPLE_USERS", "4000"))
    with scratch_database("dbops_bench_sample") as url, psycopg.connect(url, autocommit=True) as conn:
        chunks = list(generate_rows(users, seed=1, anchor=ANCHOR))
        rows = sum(c.rows for c in chunks)
        tool, raw = [], []
        for _ in range(2):
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
        best_tool, best_raw = min(tool), min(raw)
        print(f"# sample-data: {users} users, {rows} rows; best of 2 runs")
        print(f"sample_data_rows_per_s: {rows / best_tool:.0f}")
        print(f"plain_copy_rows_per_s: {rows / best_raw:.0f}")
        print(f"sample_data_generation_vs_plain_copy: {best_tool / best_raw:.2f}")


if __name__ == "__main__":
    main()
