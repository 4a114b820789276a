"""Realistic sample data for every table, loaded with COPY, deterministic for a seed.

`generate_rows` yields binary-format COPY chunks (table, rows, bytes) for batches of
users in foreign-key order; `load_sample_data` streams them into the database in one
transaction. With the same seed and anchor time the rows (ids included) are identical.
Timestamps lie before the anchor (default: now); a share `expired_fraction` of plan_cache
rows has already expired at the anchor, the rest expire within 24 hours after it.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from ops.errors import ConfigError, OperationFailed
from ops.sample_binary import (
    HEADER,
    NULL,
    TRAILER,
    columns,
    int4_field,
    jsonb_array_field,
    jsonb_field,
    text_field,
    timestamp_field,
    uuid_field,
)
from ops.sample_text import EXAMS, Pools, build_pools

PHASES = ("INTAKE", "PLANNING", "LEARNING", "QUIZZING", "ANALYZING", "COMPLETED")
PHASE_WEIGHTS = (5, 10, 30, 15, 15, 25)
TOPIC_STATUSES = ("pending", "in_progress", "completed")
DAY = 86_400
# a version-4 UUID from 128 random bits: version nibble 4, variant nibble 0xa
_UUID_CLEAR = ~((0xF << 76) | (0xF << 60)) & ((1 << 128) - 1)
_UUID_SET = (0x4 << 76) | (0xA << 60)

TABLES: dict[str, tuple[str, ...]] = {
    "users": ("id", "email", "name", "created_at"),
    "study_sessions": (
        "id",
        "user_id",
        "exam_type",
        "current_state",
        "created_at",
        "updated_at",
        "metadata",
        "current_context",
        "agent_history",
    ),
    "topics": ("id", "session_id", "name", "status", "mastery_score"),
    "misconceptions": ("id", "user_id", "topic_id", "description", "detected_at"),
    "tutor_chats": ("id", "user_id", "topic_id", "messages", "explanation", "last_updated"),
    "quizzes": ("id", "user_id", "topic_id", "questions", "created_at"),
    "plan_cache": ("id", "cache_key", "plan", "created_at", "expires_at"),
}


@dataclass(frozen=True)
class SampleShape:
    """How many child rows each parent gets (inclusive ranges, drawn uniformly)."""

    sessions_per_user: tuple[int, int] = (1, 3)
    topics_per_session: tuple[int, int] = (3, 9)
    quizzes_per_topic: tuple[int, int] = (0, 4)
    chat_probability: float = 0.4
    messages_per_chat: tuple[int, int] = (2, 12)
    misconceptions_per_topic: tuple[int, int] = (0, 2)
    plan_cache_per_user: float = 0.5
    batch_users: int = 2000


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


def _uuid_text(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def user_name(seed: int, index: int) -> str:
    """The login name of the sample user number `index` (0-based) of `seed`."""
    return f"learner-{seed}-{index:07d}"


_COLUMNS = {table: columns(len(cols)) for table, cols in TABLES.items()}


class _Generator:
    """Rows as binary COPY tuples. Ids are random version-4 UUIDs drawn from the seeded rng."""

    def __init__(self, seed: int, anchor: datetime, expired_fraction: float, shape: SampleShape):
        self.rng = random.Random(seed)
        self.seed = seed
        self.now = anchor.timestamp()
        self.expired_fraction = expired_fraction
        self.shape = shape
        self.pools: Pools = build_pools(self.rng)
        self.exams = tuple(EXAMS)
        self.exam_fields = {exam: text_field(exam) for exam in EXAMS}
        self.topic_fields = {name: text_field(name) for names in EXAMS.values() for name in names}
        self.phase_fields = {phase: text_field(phase) for phase in PHASES}
        self.status_fields = {status: text_field(status) for status in TOPIC_STATUSES}

    def uuid(self) -> int:
        return (self.rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET

    def between(self, start: float, end: float) -> float:
        return start + self.rng.random() * max(end - start, 0.0)

    def batch(self, first: int, count: int) -> dict[str, list[bytes]]:
        out: dict[str, list[bytes]] = {t: [] for t in TABLES if t != "plan_cache"}
        for index in range(first, first + count):
            self._user(index, out)
            # Hand the GIL over after every user (about a millisecond of work): the thread
            # that feeds COPY wakes up each time the server drained the socket, and would
            # otherwise wait up to the interpreter's 5 ms switch interval to run again.
            time.sleep(0)
        return out

    def _user(self, index: int, out: dict[str, list[bytes]]) -> None:
        rng, shape = self.rng, self.shape
        user_id = self.uuid()
        created = self.now - rng.randint(1, 180) * DAY - rng.random() * DAY
        email = text_field(f"learner{index}.s{self.seed}@example.com") if rng.random() < 0.7 else NULL
        out["users"].append(
            _COLUMNS["users"]
            + uuid_field(user_id)
            + email
            + text_field(user_name(self.seed, index))
            + timestamp_field(created)
        )
        user = (uuid_field(user_id), text_field(_uuid_text(user_id)))
        for _ in range(rng.randint(*shape.sessions_per_user)):
            self._session(user, created, out)

    def _session(self, user: tuple[bytes, bytes], user_created: float, out: dict[str, list[bytes]]) -> None:
        rng, shape, pools = self.rng, self.shape, self.pools
        session_id = uuid_field(self.uuid())
        exam = rng.choice(self.exams)
        started = self.between(user_created, self.now)
        updated = self.between(started, min(self.now, started + 3 * DAY))
        phase = rng.choices(PHASES, PHASE_WEIGHTS)[0]
        history = [rng.choice(pools.history_fields[a]) for a in self._actions(phase)]
        names = rng.sample(EXAMS[exam], min(rng.randint(*shape.topics_per_session), len(EXAMS[exam])))
        context = (
            f'{{"exam_type": "{exam}", "syllabus": "{exam} full syllabus", '
            f'"topics": {len(names)}, "current_topic_index": {rng.randrange(len(names))}}}'
        )
        source = rng.choice(("web", "mobile", "api"))
        metadata = f'{{"source": "{source}", "plan_version": {rng.randint(1, 3)}}}'
        out["study_sessions"].append(
            _COLUMNS["study_sessions"]
            + session_id
            + user[0]
            + self.exam_fields[exam]
            + self.phase_fields[phase]
            + timestamp_field(started)
            + timestamp_field(updated)
            + jsonb_field(metadata.encode())
            + jsonb_field(context.encode())
            + jsonb_array_field(history)
        )
        for name in names:
            self._topic(user, session_id, name, started, out)

    def _actions(self, phase: str) -> list[str]:
        """A path through the state machine that ends in `phase`."""
        if phase == "INTAKE":
            return []
        cycles = self.rng.randint(0, 3)
        done = ["generate_plan"] + ["start_topic", "take_quiz", "submit_answers", "next_topic"] * cycles
        if phase == "COMPLETED":
            return [*done, "start_topic", "take_quiz", "submit_answers", "complete"]
        return done + ["start_topic", "take_quiz", "submit_answers"][: PHASES.index(phase) - 1]

    def _topic(
        self,
        user: tuple[bytes, bytes],
        session_id: bytes,
        name: str,
        started: float,
        out: dict[str, list[bytes]],
    ) -> None:
        rng, shape, pools = self.rng, self.shape, self.pools
        topic = self.uuid()
        topic_id = uuid_field(topic)
        status = rng.choice(TOPIC_STATUSES)
        mastery = 0 if status == "pending" else rng.randint(0, 100)
        out["topics"].append(
            _COLUMNS["topics"]
            + topic_id
            + session_id
            + self.topic_fields[name]
            + self.status_fields[status]
            + int4_field(mastery)
        )
        # quizzes and tutor_chats keep user and topic ids as text
        owner = user[1] + text_field(_uuid_text(topic))
        quizzes = rng.randint(*shape.quizzes_per_topic)
        for _ in range(quizzes):
            questions = b"[" + b",".join(rng.sample(pools.questions, rng.randint(3, 6))) + b"]"
            out["quizzes"].append(
                _COLUMNS["quizzes"]
                + uuid_field(self.uuid())
                + owner
                + jsonb_field(questions)
                + timestamp_field(self.between(started, self.now))
            )
        if quizzes:
            for _ in range(rng.randint(*shape.misconceptions_per_topic)):
                target = topic_id if rng.random() < 0.9 else NULL
                out["misconceptions"].append(
                    _COLUMNS["misconceptions"]
                    + uuid_field(self.uuid())
                    + user[0]
                    + target
                    + rng.choice(pools.misconception_fields)
                    + timestamp_field(self.between(started, self.now))
                )
        if rng.random() < shape.chat_probability:
            messages = b",".join(
                rng.choice(pools.user_messages if i % 2 == 0 else pools.assistant_messages)
                for i in range(rng.randint(*shape.messages_per_chat))
            )
            out["tutor_chats"].append(
                _COLUMNS["tutor_chats"]
                + uuid_field(self.uuid())
                + owner
                + jsonb_field(b"[" + messages + b"]")
                + rng.choice(pools.explanation_fields)
                + timestamp_field(self.between(started, self.now))
            )

    def plan_cache(self, users: int) -> tuple[list[bytes], int]:
        rng = self.rng
        count = max(1, round(users * self.shape.plan_cache_per_user))
        expired = set(rng.sample(range(count), round(count * self.expired_fraction)))
        lines = []
        for i in range(count):
            exam = rng.choice(self.exams)
            if i in expired:
                expires = self.now - self.between(60, 30 * DAY)
            else:
                expires = self.now + self.between(60, DAY - 60)
            topics = rng.sample(self.pools.plan_topics, 6)
            days = ", ".join(
                f'{{"day": {d}, "topic": "{t}", "hours": {rng.randint(1, 4)}}}'
                for d, t in enumerate(topics, 1)
            )
            plan = f'{{"exam_type": "{exam}", "days": [{days}], "total_days": {len(topics)}}}'
            key = f"{exam.lower().replace(' ', '-')}:{self.seed}:{rng.getrandbits(64):016x}"
            lines.append(
                _COLUMNS["plan_cache"]
                + uuid_field(self.uuid())
                + text_field(key)
                + jsonb_field(plan.encode())
                + timestamp_field(expires - DAY)
                + timestamp_field(expires)
            )
        return lines, len(expired)


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
    gen = _Generator(seed, anchor or datetime.now(UTC), expired_fraction, shape or SampleShape())
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


def copy_chunk(conn: psycopg.Connection[Any], chunk: Chunk) -> None:
    statement = sql.SQL("copy {} ({}) from stdin (format binary)").format(
        sql.Identifier(chunk.table), sql.SQL(", ").join(map(sql.Identifier, TABLES[chunk.table]))
    )
    with conn.cursor().copy(statement) as copy:
        view = memoryview(chunk.data)
        for start in range(0, len(view), 1 << 20):
            copy.write(view[start : start + (1 << 20)])


def load_sample_data(
    conn: psycopg.Connection[Any],
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
            for chunk in prefetched(chunks):
                copy_chunk(conn, chunk)
                rows[chunk.table] += chunk.rows
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
