"""Login, study sessions and their state machine, topics, progress."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from ops.db import Conn
from ops.queries._base import (
    MAX_ITEMS,
    SYSTEM,
    InvalidInput,
    InvalidTransition,
    StaleState,
    check_list,
    check_text,
    check_uuid,
    fetch_all,
    fetch_one,
    not_found,
    run,
    to_json,
    user,
)

PHASES = ("INTAKE", "PLANNING", "LEARNING", "QUIZZING", "ANALYZING", "COMPLETED")
TRANSITIONS: dict[tuple[str, str], str] = {
    ("INTAKE", "generate_plan"): "PLANNING",
    ("PLANNING", "start_topic"): "LEARNING",
    ("LEARNING", "take_quiz"): "QUIZZING",
    ("QUIZZING", "submit_answers"): "ANALYZING",
    ("ANALYZING", "next_topic"): "PLANNING",
    ("ANALYZING", "complete"): "COMPLETED",
}
ACTIONS = tuple(dict.fromkeys(action for _, action in TRANSITIONS))
TOPIC_STATUSES = ("pending", "in_progress", "completed")


@dataclass(frozen=True)
class SessionState:
    session_id: UUID
    user_id: UUID | None
    exam_type: str
    phase: str
    context: dict[str, Any]
    updated_at: datetime
    agent_history: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True)
class Topic:
    id: UUID
    session_id: UUID
    name: str
    status: str
    mastery_score: int


@dataclass(frozen=True)
class TopicProgress:
    exam_type: str
    name: str
    sessions: int
    best_score: int
    latest_score: int
    latest_status: str


def login(conn: Conn, name: str) -> UUID:
    """The id of the user with this login name, created if new (race-free).

    The backend's call, as `service_role` (migration 0017): anon may not run it.
    """
    clean = check_text(name, "name")
    row = fetch_one(conn, SYSTEM, "q_login", {"name": clean})
    assert row is not None
    return UUID(str(row[0]))


def start_session(
    conn: Conn, user_id: UUID, exam_type: str, metadata: Mapping[str, Any] | None = None
) -> UUID:
    """A new study session of the user, in phase INTAKE."""
    params = {
        "user_id": check_uuid(user_id, "user_id"),
        "exam_type": check_text(exam_type, "exam_type"),
        "metadata": None if metadata is None else to_json(metadata, "metadata", dict),
    }
    try:
        row = fetch_one(conn, user(user_id), "q_start_session", params)
    except psycopg.errors.ForeignKeyViolation as exc:
        raise not_found("user", user_id) from exc
    assert row is not None
    return UUID(str(row[0]))


def _state(row: Sequence[Any]) -> SessionState:
    history = tuple(row[6]) if len(row) > 6 and row[6] is not None else None
    return SessionState(row[0], row[1], row[2], row[3], row[4] or {}, row[5], history)


def load_session(conn: Conn, user_id: UUID, session_id: UUID, *, with_history: bool = False) -> SessionState:
    """A session's phase and context (and its agent history when asked)."""
    params = {"session_id": check_uuid(session_id, "session_id"), "with_history": with_history}
    row = fetch_one(conn, user(user_id), "q_load_session", params)
    if row is None:
        raise not_found("study session", session_id)
    return _state(row)


def next_phase(phase: str, action: str) -> str:
    """The phase after `action`, or InvalidInput / InvalidTransition."""
    if phase not in PHASES:
        raise InvalidInput(f"unknown phase {phase!r}", f"use one of {', '.join(PHASES)}")
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r}", f"use one of {', '.join(ACTIONS)}")
    target = TRANSITIONS.get((phase, action))
    if target is None:
        allowed = [a for (p, a) in TRANSITIONS if p == phase]
        raise InvalidTransition(
            f"action {action} is not allowed in phase {phase}",
            f"allowed in {phase}: {', '.join(allowed)}" if allowed else f"{phase} is final",
        )
    return target


def save_session(
    conn: Conn,
    user_id: UUID,
    session_id: UUID,
    expected_phase: str,
    action: str,
    context: Mapping[str, Any] | None = None,
) -> SessionState:
    """Apply one state-machine action to a session still in `expected_phase`.

    The update is a compare-and-set on the phase: if another writer moved the session
    since the caller read it, StaleState is raised and nothing is overwritten. The
    transition is appended to agent_history; `context=None` keeps the current context.
    """
    params = {
        "session_id": check_uuid(session_id, "session_id"),
        "expected_phase": expected_phase,
        "action": action,
        "next_phase": next_phase(expected_phase, action),
        "context": None if context is None else to_json(context, "context", dict),
    }
    caller = user(user_id)
    row = fetch_one(conn, caller, "q_save_session", params)
    if row is not None:
        return _state(row)
    # why nothing changed (read after the fact, only on this path): gone, or moved on
    now = fetch_one(conn, caller, "q_session_phase", params)
    if now is None:
        raise not_found("study session", session_id)
    raise StaleState(
        f"study session {session_id} is in phase {now[0]}, not {expected_phase}: another writer moved it",
        "load_session again and decide the next action from the current phase",
    )


def log_action(
    conn: Conn, user_id: UUID, session_id: UUID, action: str, payload: Mapping[str, Any] | None = None
) -> int:
    """Append an agent action to the session's history in one statement; its new length."""
    params = {
        "session_id": check_uuid(session_id, "session_id"),
        "action": check_text(action, "action"),
        "payload": to_json(payload or {}, "payload", dict),
    }
    row = fetch_one(conn, user(user_id), "q_log_action", params)
    if row is None:
        raise not_found("study session", session_id)
    return int(row[0])


def add_topics(conn: Conn, user_id: UUID, session_id: UUID, names: Sequence[str]) -> list[Topic]:
    """Add the named topics the session lacks (one INSERT); returns the ones added.

    The session row is locked first, so concurrent additions of one name add it once.
    """
    clean = [check_text(n, "topic name") for n in check_list(names, "names", MAX_ITEMS)]
    params = {"session_id": check_uuid(session_id, "session_id"), "names": clean}
    locked, rows = run(conn, user(user_id), ("q_lock_session", params), ("q_add_topics", params))
    if not locked:
        raise not_found("study session", session_id)
    return [Topic(*row) for row in rows]


def set_mastery(conn: Conn, user_id: UUID, topic_id: UUID, score: int, status: str) -> Topic:
    """A topic's mastery score (0-100) and status (pending, in_progress, completed)."""
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
        raise InvalidInput(f"mastery score must be an integer from 0 to 100, not {score!r}", "pass e.g. 75")
    if status not in TOPIC_STATUSES:
        raise InvalidInput(f"unknown topic status {status!r}", f"use one of {', '.join(TOPIC_STATUSES)}")
    params = {"topic_id": check_uuid(topic_id, "topic_id"), "score": score, "status": status}
    row = fetch_one(conn, user(user_id), "q_set_mastery", params)
    if row is None:
        raise not_found("topic", topic_id)
    return Topic(*row)


def progress(conn: Conn, user_id: UUID) -> list[TopicProgress]:
    """Mastery per (exam type, topic) across the user's sessions, sorted by exam and topic."""
    rows = fetch_all(conn, user(user_id), "q_progress", {"user_id": check_uuid(user_id, "user_id")})
    return sorted((TopicProgress(*row) for row in rows), key=lambda p: (p.exam_type, p.name))
