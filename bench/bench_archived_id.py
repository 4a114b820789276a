"""What the archived-id check (migration 0016) costs a bulk COPY into a live table.

`app.refuse_archived_id` runs once per INSERT or COPY statement on study_sessions, topics,
misconceptions, tutor_chats and quizzes: it captures the new rows (a transition table) and
looks each id up in the archive's primary key. Here the same rows (fixed ids, pre-read into
memory) are copied into a live table of a clone of the bench dataset whose archive table
holds as many rows as the live one, alternately with the trigger and with it disabled
(ALTER TABLE ... DISABLE TRIGGER, outside the timing), each run in a transaction that is
rolled back, so every run starts from the same table.

Two tables: `quizzes` (rows of about 2 kB of JSON, where the check is a small part of the
work) and `topics` (rows of a few dozen bytes with a foreign key, where it is the largest).
Prints `copy_<table>_archived_id_trigger_vs_disabled` (best COPY time with the trigger /
without) and both as rows/s. Run: `python -m bench.bench_archived_id`; BENCH_TRIGGER_USERS
(default 5000 users: about 120k quizzes and 60k topics, as many again archived),
BENCH_TRIGGER_QUIZZES / BENCH_TRIGGER_TOPICS (rows copied, default 20000 / 200000),
BENCH_TRIGGER_RUNS (default 3 per variant, best counts).
"""

from __future__ import annotations

import os
import time

from bench.dataset import bench_dataset
from ops.db import Conn, connect

# table: its columns other than id (the new rows take the live rows' values, fresh ids)
TABLES = {
    "quizzes": "user_id, topic_id, questions, created_at",
    "topics": "session_id, name, status, mastery_score",
}


def fill_archive(conn: Conn, table: str) -> int:
    """As many archived rows as live ones, with ids of their own."""
    columns = TABLES[table]
    conn.execute(
        f"insert into archive.{table} (id, {columns}, archived_at)"
        f" select gen_random_uuid(), {columns}, now() from {table}"
    )
    conn.execute(f"analyze archive.{table}")
    row = conn.execute(f"select count(*) from archive.{table}").fetchone()
    return int(row[0]) if row else 0


def copy_rows(conn: Conn, table: str, rows: int) -> bytes:
    """`rows` new rows (fresh ids, the live table's values, repeated as needed) as COPY text."""
    data = bytearray()
    query = (
        f"copy (select gen_random_uuid(), n.* from generate_series(1, 20) as g,"
        f" (select {TABLES[table]} from {table}) as n limit {int(rows)}) to stdout"
    )
    with conn.cursor().copy(query) as copy:
        for block in copy:
            data += block
    return bytes(data)


def timed_copy(conn: Conn, table: str, data: bytes, *, trigger: bool) -> float:
    with conn.transaction(force_rollback=True):
        if not trigger:
            conn.execute(f"alter table {table} disable trigger {table}_id_not_archived")
        started = time.perf_counter()
        with conn.cursor().copy(f"copy {table} (id, {TABLES[table]}) from stdin") as copy:
            copy.write(data)
        return time.perf_counter() - started


def main() -> None:
    users = int(os.environ.get("BENCH_TRIGGER_USERS", "5000"))
    runs = int(os.environ.get("BENCH_TRIGGER_RUNS", "3"))
    sizes = {
        "quizzes": int(os.environ.get("BENCH_TRIGGER_QUIZZES", "20000")),
        "topics": int(os.environ.get("BENCH_TRIGGER_TOPICS", "200000")),
    }
    with bench_dataset(users) as url, connect(url) as conn:
        for table, rows in sizes.items():
            archived = fill_archive(conn, table)
            data = copy_rows(conn, table, rows)
            copied = data.count(b"\n")
            with_trigger: list[float] = []
            without: list[float] = []
            timed_copy(conn, table, data, trigger=True)  # warm the caches alike
            for _ in range(runs):
                with_trigger.append(timed_copy(conn, table, data, trigger=True))
                without.append(timed_copy(conn, table, data, trigger=False))
            best_with, best_without = min(with_trigger), min(without)
            print(
                f"# archived-id check: COPY of {copied} {table} ({len(data) / 1e6:.0f} MB text) into the live"
                f" table, {archived} rows in archive.{table}; best of {runs}"
                f" (with {', '.join(f'{t:.2f}' for t in with_trigger)} s;"
                f" disabled {', '.join(f'{t:.2f}' for t in without)} s)"
            )
            print(f"copy_{table}_archived_id_trigger_vs_disabled: {best_with / best_without:.2f}")
            print(f"copy_{table}_with_archived_id_trigger_rows_per_s: {copied / best_with:.0f}")
            print(f"copy_{table}_archived_id_trigger_disabled_rows_per_s: {copied / best_without:.0f}")


if __name__ == "__main__":
    main()
