"""What every access pattern shares: the acting caller, input validation, typed errors."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg

from ops.errors import ConfigError, OperationFailed
from ops.rls import acting_as

MAX_JSON_BYTES = 1_000_000
MAX_NAME_CHARS = 200
MAX_ITEMS = 100
MISCONCEPTION_CHARS = 5000


class InvalidInput(ConfigError):
    """An argument of the wrong type, out of range or too large; nothing was sent."""


class InvalidTransition(InvalidInput):
    """The action is not allowed from the session's phase."""


class NotFound(OperationFailed):
    """The row does not exist, or the caller may not see it (RLS)."""


class StaleState(OperationFailed):
    """Another writer changed the row since the caller read it; nothing was overwritten."""


Conn = psycopg.Connection[Any]


@contextmanager
def as_user(conn: Conn, user_id: UUID) -> Iterator[Conn]:
    """One transaction as the application user (`authenticated`, claims sub = user_id)."""
    with acting_as(conn, check_uuid(user_id, "user_id"), "authenticated") as c:
        yield c


@contextmanager
def as_system(conn: Conn) -> Iterator[Conn]:
    """One transaction as a system job (`service_role`, no user)."""
    with acting_as(conn, None, "service_role") as c:
        yield c


def check_uuid(value: object, what: str) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise InvalidInput(f"{what} must be a UUID, not {value!r}", f"pass the {what} as uuid.UUID or its text")


def check_text(value: object, what: str, max_chars: int = MAX_NAME_CHARS) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text, not {type(value).__name__}", f"pass {what} as a str")
    stripped = value.strip()
    if not stripped:
        raise InvalidInput(f"{what} must not be empty", f"pass a non-empty {what}")
    if len(stripped) > max_chars:
        raise InvalidInput(
            f"{what} is {len(stripped)} characters, over the limit of {max_chars}", f"shorten {what}"
        )
    return stripped


def check_topic_key(value: object) -> str:
    """tutor_chats and quizzes key topics by text (a topic's id, or the app's own key)."""
    if isinstance(value, UUID):
        return str(value)
    return check_text(value, "topic_id")


def to_json(value: object, what: str, kind: type = object) -> str:
    """Serialise once, check the type and size; the SQL casts the text to jsonb."""
    if kind is not object and not isinstance(value, kind):
        expected = "a list" if kind is list else "an object (dict)"
        raise InvalidInput(
            f"{what} must be {expected}, not {type(value).__name__}", f"pass {what} as {expected}"
        )
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{what} is not JSON-serialisable: {exc}", "pass plain dicts, lists, str, numbers"
        ) from exc
    size = len(text.encode())
    if size > MAX_JSON_BYTES:
        raise InvalidInput(
            f"{what} is {size} bytes of JSON, over the limit of {MAX_JSON_BYTES}",
            f"store less in {what}, or split it",
        )
    return text


def check_list(value: object, what: str, max_items: int = MAX_ITEMS) -> Sequence[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise InvalidInput(f"{what} must be a list, not {type(value).__name__}", f"pass {what} as a list")
    if not value:
        raise InvalidInput(f"{what} must not be empty", f"pass at least one item in {what}")
    if len(value) > max_items:
        raise InvalidInput(f"{what} has {len(value)} items, over the limit of {max_items}", "split the call")
    return value


def not_found(what: str, key: object) -> NotFound:
    return NotFound(
        f"no {what} {key} (or it belongs to another user)",
        "check the id; callers see only their own rows",
    )
