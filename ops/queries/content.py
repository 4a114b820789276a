"""Misconceptions, tutor chats, quizzes and the plan cache."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from ops.db import Conn
from ops.queries._base import (
    MAX_ITEMS,
    MISCONCEPTION_CHARS,
    SYSTEM,
    InvalidInput,
    check_list,
    check_text,
    check_topic_key,
    check_uuid,
    fetch_all,
    fetch_one,
    not_found,
    to_json,
    user,
)

MAX_EXPLANATION_CHARS = 100_000


@dataclass(frozen=True)
class Misconception:
    id: UUID
    topic_id: UUID | None
    description: str
    detected_at: datetime


@dataclass(frozen=True)
class Chat:
    user_id: str
    topic_id: str
    messages: list[Any]
    explanation: str | None
    last_updated: datetime | None


@dataclass(frozen=True)
class Quiz:
    id: UUID
    user_id: str
    topic_id: str
    questions: list[Any]
    created_at: datetime


@dataclass(frozen=True)
class CachedPlan:
    cache_key: str
    plan: dict[str, Any]
    created_at: datetime
    expires_at: datetime


def record_misconceptions(
    conn: Conn, user_id: UUID, topic_id: UUID | None, descriptions: Sequence[str]
) -> list[UUID]:
    """Insert the misconceptions in one statement (each cut to 5000 characters); their ids."""
    for d in check_list(descriptions, "descriptions", MAX_ITEMS):
        check_text(d, "description", max_chars=10 * MISCONCEPTION_CHARS)
    params = {
        "user_id": check_uuid(user_id, "user_id"),
        "topic_id": None if topic_id is None else check_uuid(topic_id, "topic_id"),
        "descriptions": [d.strip() for d in descriptions],
    }
    try:
        rows = fetch_all(conn, user(user_id), "q_record_misconceptions", params)
    except psycopg.errors.ForeignKeyViolation as exc:
        raise not_found("topic" if topic_id is not None else "user", topic_id or user_id) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        # the shipped policies' WITH CHECK refuses a topic that is not the caller's before the
        # foreign key is checked: missing or another user's, both are "no such topic" to the caller
        if topic_id is None:
            raise
        raise not_found("topic", topic_id) from exc
    return [row[0] for row in rows]


def recent_misconceptions(conn: Conn, user_id: UUID, limit: int = 20) -> list[Misconception]:
    """The user's newest misconceptions first (for remediation)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidInput(f"limit must be an integer from 1 to 1000, not {limit!r}", "pass e.g. limit=20")
    params = {"user_id": check_uuid(user_id, "user_id"), "limit": limit}
    rows = fetch_all(conn, user(user_id), "q_recent_misconceptions", params)
    return [Misconception(*row) for row in rows]


def _chat_key(user_id: UUID, topic_id: UUID | str) -> dict[str, str]:
    return {"user_id": str(check_uuid(user_id, "user_id")), "topic_id": check_topic_key(topic_id)}


def get_chat(conn: Conn, user_id: UUID, topic_id: UUID | str) -> Chat:
    """The chat of the user on a topic; empty messages and no explanation when none."""
    key = _chat_key(user_id, topic_id)
    row = fetch_one(conn, user(user_id), "q_get_chat", key)
    if row is None:
        return Chat(key["user_id"], key["topic_id"], [], None, None)
    return Chat(key["user_id"], key["topic_id"], row[0], row[1], row[2])


def save_chat(
    conn: Conn, user_id: UUID, topic_id: UUID | str, messages: Sequence[Any], explanation: str = ""
) -> Chat:
    """Create or replace the chat of the user on a topic (upsert on (user_id, topic_id))."""
    if not isinstance(explanation, str):
        raise InvalidInput(f"explanation must be text, not {type(explanation).__name__}", "pass a str")
    if len(explanation) > MAX_EXPLANATION_CHARS:
        raise InvalidInput(
            f"explanation is {len(explanation)} characters, over the limit of {MAX_EXPLANATION_CHARS}",
            "shorten the explanation",
        )
    params = {
        **_chat_key(user_id, topic_id),
        "messages": to_json(list(messages) if isinstance(messages, tuple) else messages, "messages", list),
        "explanation": explanation,
    }
    row = fetch_one(conn, user(user_id), "q_save_chat", params)
    assert row is not None
    return Chat(params["user_id"], params["topic_id"], row[0], row[1], row[2])


def append_chat_messages(conn: Conn, user_id: UUID, topic_id: UUID | str, messages: Sequence[Any]) -> int:
    """Append messages to the chat atomically (creating it if new); the chat's new length."""
    check_list(messages, "messages", MAX_ITEMS)
    params = {**_chat_key(user_id, topic_id), "messages": to_json(list(messages), "messages", list)}
    row = fetch_one(conn, user(user_id), "q_append_chat", params)
    assert row is not None
    return int(row[0])


def save_quiz(conn: Conn, user_id: UUID, topic_id: UUID | str, questions: Sequence[Any]) -> Quiz:
    """Store a generated quiz (every attempt is kept; `latest_quiz` reads the newest)."""
    check_list(questions, "questions", MAX_ITEMS)
    params = {**_chat_key(user_id, topic_id), "questions": to_json(list(questions), "questions", list)}
    row = fetch_one(conn, user(user_id), "q_save_quiz", params)
    assert row is not None
    return Quiz(row[0], params["user_id"], params["topic_id"], list(questions), row[1])


def latest_quiz(conn: Conn, user_id: UUID, topic_id: UUID | str) -> Quiz | None:
    """The newest quiz of the user on a topic, or None."""
    key = _chat_key(user_id, topic_id)
    row = fetch_one(conn, user(user_id), "q_latest_quiz", key)
    if row is None:
        return None
    return Quiz(row[0], key["user_id"], key["topic_id"], row[1], row[2])


def get_cached_plan(conn: Conn, user_id: UUID | None, cache_key: str) -> CachedPlan | None:
    """The plan cached under the key if it has not expired (as the user, or a system job)."""
    key = check_text(cache_key, "cache_key", max_chars=500)
    params = {"cache_key": key}
    row = fetch_one(conn, SYSTEM if user_id is None else user(user_id), "q_get_cached_plan", params)
    return None if row is None else CachedPlan(key, *row)


def put_cached_plan(
    conn: Conn, cache_key: str, plan: Mapping[str, Any], ttl: timedelta = timedelta(hours=24)
) -> CachedPlan:
    """Cache a plan (as service_role); an existing key gets the new plan and a fresh expiry."""
    if not isinstance(ttl, timedelta) or ttl <= timedelta(0):
        raise InvalidInput(f"ttl must be a positive timedelta, not {ttl!r}", "pass e.g. timedelta(hours=24)")
    key = check_text(cache_key, "cache_key", max_chars=500)
    params = {"cache_key": key, "plan": to_json(plan, "plan", dict), "ttl": ttl}
    row = fetch_one(conn, SYSTEM, "q_put_cached_plan", params)
    assert row is not None
    return CachedPlan(key, *row)
