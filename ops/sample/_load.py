"""Realistic sample data for every table, loaded with COPY, deterministic for a seed.

`generate_rows` yields binary-format COPY chunks (table, rows, bytes) for batches of
users in foreign-key order; `load_sample_data` streams them into the database in one
transaction. With the same seed and anchor time the rows (ids included) are identical.
Timestamps lie before the anchor (default: now); a share `expired_fraction` of plan_cache
rows has already expired at the anchor, the rest expire within 24 hours after it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from ops import progress
from ops.db import Conn
from ops.errors import ConfigError, OperationFailed
from ops.sample._rows import TABLES, Generator, SampleShape, user_name
from ops.sample.copy_binary import HEADER, TRAILER


@dataclass(frozen=True)
class Chunk:
    table: str
    rows: int
    data: bytes


@dataclass(frozen=True)
class SampleReport:
    users: int
    seed: int
    expired_fraction: float
    anchor: datetime
    rows: dict[str, int]
    seconds: float
    dry_run: bool = False
    skipped: bool = False
    expired_plans: int = 0
    total_rows: int = field(default=0)

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else 0.0


def _validate(users: int, expired_fraction: float) -> None:
    if users < 1:
        raise ConfigError(f"--users must be at least 1, not {users}", "pass e.g. --users 1000")
    if not 0.0 <= expired_fraction <= 1.0:
        raise ConfigError(
            f"--expired-fraction must be between 0 and 1, not {expired_fraction}", "pass e.g. 0.3"
        )


def generate_rows(
    users: int,
    *,
    seed: int = 0,
    expired_fraction: float = 0.3,
    anchor: datetime | None = None,
    shape: SampleShape | None = None,
    stats: dict[str, int] | None = None,
) -> Iterator[Chunk]:
    """Binary COPY chunks for `users` users, parents before children; `stats` gets expired_plans."""
    _validate(users, expired_fraction)
    gen = Generator(seed, anchor or datetime.now(UTC), expired_fraction, shape or SampleShape())
    step = gen.shape.batch_users
    for first in range(0, users, step):
        for table, lines in gen.batch(first, min(step, users - first)).items():
            if lines:
                yield Chunk(table, len(lines), HEADER + b"".join(lines) + TRAILER)
    lines, expired = gen.plan_cache(users)
    if stats is not None:
        stats["expired_plans"] = expired
    yield Chunk("plan_cache", len(lines), HEADER + b"".join(lines) + TRAILER)


def prefetched(chunks: Iterator[Chunk], depth: int = 4) -> Iterator[Chunk]:
    """Run the generator in a thread, so Python builds the next batch while the server copies."""
    buffer: queue.Queue[Chunk | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Chunk | BaseException | None) -> bool:
        """False once the consumer has gone (so a full queue never blocks the thread)."""
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    worker = threading.Thread(target=produce, name="sample-data-generator", daemon=True)
    worker.start()
    try:
        while (item := buffer.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def copy_chunk(conn: Conn, chunk: Chunk) -> None:
    statement = sql.SQL("copy {} ({}) from stdin (format binary)").format(
        sql.Identifier(chunk.table), sql.SQL(", ").join(map(sql.Identifier, TABLES[chunk.table]))
    )
    with conn.cursor().copy(statement) as copy:
        view = memoryview(chunk.data)
        for start in range(0, len(view), 1 << 20):
            copy.write(view[start : start + (1 << 20)])


def load_sample_data(
    conn: Conn,
    users: int,
    *,
    seed: int = 0,
    expired_fraction: float = 0.3,
    anchor: datetime | None = None,
    shape: SampleShape | None = None,
    dry_run: bool = False,
    skip_loaded: bool = False,
) -> SampleReport:
    """Generate and COPY the sample in one transaction (rolled back with `dry_run`).

    A seed already loaded is refused, or with `skip_loaded` reported as skipped (0 rows).
    """
    _validate(users, expired_fraction)
    anchor = anchor or datetime.now(UTC)
    rows = dict.fromkeys(TABLES, 0)
    stats: dict[str, int] = {}
    started = time.perf_counter()
    try:
        with conn.transaction(force_rollback=dry_run):
            taken = conn.execute("select 1 from users where name = %s", (user_name(seed, 0),)).fetchone()
            if taken and skip_loaded:
                return SampleReport(users, seed, expired_fraction, anchor, rows, 0.0, dry_run, skipped=True)
            if taken:
                raise OperationFailed(
                    f"sample data of seed {seed} is already loaded (user {user_name(seed, 0)} exists)",
                    "pass another --seed, or load into an empty database",
                )
            chunks = generate_rows(
                users, seed=seed, expired_fraction=expired_fraction, anchor=anchor, shape=shape, stats=stats
            )
            with progress.step(f"loading sample data of {users} users", users) as loading:
                for chunk in prefetched(chunks):
                    copy_chunk(conn, chunk)
                    rows[chunk.table] += chunk.rows
                    if chunk.table == "users":
                        loading.advance(chunk.rows)
    except psycopg.errors.UniqueViolation as exc:
        raise OperationFailed(
            f"sample rows collide with existing rows: {exc.diag.message_primary}",
            "pass another --seed, or load into an empty database",
        ) from exc
    elapsed = time.perf_counter() - started
    if not dry_run:
        conn.execute(sql.SQL("analyze {}").format(sql.SQL(", ").join(map(sql.Identifier, TABLES))))
    return SampleReport(
        users=users,
        seed=seed,
        expired_fraction=expired_fraction,
        anchor=anchor,
        rows=rows,
        seconds=round(elapsed, 3),
        dry_run=dry_run,
        expired_plans=stats.get("expired_plans", 0),
        total_rows=sum(rows.values()),
    )
