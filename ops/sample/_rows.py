"""The sample data's rows: what each table gets per parent, drawn from a seeded rng, as binary COPY tuples.

`Generator.batch` builds the rows of a batch of users (and their sessions, topics, quizzes,
chats and misconceptions), `Generator.plan_cache` the cache rows; ops.sample streams them.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime

from ops.sample._text import EXAMS, Pools, build_pools
from ops.sample.copy_binary import (
    NULL,
    columns,
    int4_field,
    jsonb_array_field,
    jsonb_field,
    text_field,
    timestamp_field,
    uuid_field,
)

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


def _uuid_text(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def user_name(seed: int, index: int) -> str:
    """The login name of the sample user number `index` (0-based) of `seed`."""
    return f"learner-{seed}-{index:07d}"


_COLUMNS = {table: columns(len(cols)) for table, cols in TABLES.items()}


class Generator:
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
