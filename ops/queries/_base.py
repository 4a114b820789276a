"""What every access pattern shares: the acting caller, input validation, typed errors."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from functools import cache
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

import psycopg
from psycopg import ClientCursor, abc
from psycopg.adapt import Transformer
from psycopg.pq import TransactionStatus

from ops.db import Conn
from ops.errors import ConfigError, OperationFailed
from ops.queries.rls import SET_LOCAL, Actor, acting_as, actor, bound_actor, bound_as
from ops.sqlfiles import load

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


Rows = list[tuple[Any, ...]]
Step = tuple[str, Mapping[str, Any]]  # (sql/ file name, parameters)

SYSTEM = actor("service_role")
ANON = actor("anon")


def user(user_id: object) -> Actor:
    """The application user `user_id` (role `authenticated`, claims sub = user_id)."""
    return actor("authenticated", check_uuid(user_id, "user_id"))


@cache
def statement(name: str) -> bytes:
    """The text of sql/<name>.sql, encoded once (psycopg then finds its parsed form cached)."""
    return load(__name__, name).text.encode()


# The statements that migration 0019 also holds as functions `app.<name>(<arguments>)`: on a
# pooled connection (nothing prepared) the call plans only the function call, and the
# server reuses the statement's cached plan. The arguments are the statement's parameters,
# in the functions' order (tests/test_queries_pooled.py checks both against the catalog).
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "q_latest_quiz": ("user_id", "topic_id"),
    "q_get_chat": ("user_id", "topic_id"),
    "q_load_session": ("with_history", "session_id"),
    "q_session_phase": ("session_id",),
    "q_get_cached_plan": ("cache_key",),
    "q_recent_misconceptions": ("user_id", "limit"),
    "q_progress": ("user_id",),
    "q_start_session": ("user_id", "exam_type", "metadata"),
    "q_save_session": ("next_phase", "context", "action", "expected_phase", "session_id"),
    "q_log_action": ("action", "payload", "session_id"),
    "q_lock_session": ("session_id",),
    "q_add_topics": ("names", "session_id"),
    "q_set_mastery": ("score", "status", "topic_id"),
    "q_record_misconceptions": ("user_id", "topic_id", "descriptions"),
    "q_save_chat": ("user_id", "topic_id", "messages", "explanation"),
    "q_append_chat": ("user_id", "topic_id", "messages"),
    "q_save_quiz": ("user_id", "topic_id", "questions"),
    "q_put_cached_plan": ("cache_key", "plan", "ttl"),
}


def bind(conn: Conn, user_id: UUID) -> AbstractContextManager[Conn]:
    """Bind an autocommit connection to the application user for a block (one request).

    The block is one transaction with the role and claims local to it (pooler-safe:
    nothing is set for the session). Every call of the block for that user then costs what
    the bare statement costs; calls for anyone else switch for that call and switch back,
    in the same round trip. On exit the transaction commits (rolls back after a failed
    statement), and with it the caller is gone.
    """
    return bound_as(conn, check_uuid(user_id, "user_id"), "authenticated")


def bind_system(conn: Conn) -> AbstractContextManager[Conn]:
    """Bind an autocommit connection to the system role (`service_role`) for a block."""
    return bound_as(conn, None, "service_role")


def run(conn: Conn, caller: Actor, *steps: Step) -> list[Rows]:
    """Run the steps as `caller` in one transaction; the rows of each step.

    On a connection bound to the caller (`bind`), the statements go as they are, in the
    binding's transaction: one step is one round trip, like bare psycopg; for another
    caller the switch, the steps and the switch back go as one pipeline. On an idle
    autocommit connection, the role and claims (local to the transaction) and the steps go
    as one pipeline: one round trip, one implicit transaction that ends at the pipeline's
    sync, so nothing outlives the call. Inside a transaction the caller opened,
    `acting_as` switches and puts the caller back.
    """
    status = conn.pgconn.transaction_status
    current = bound_actor(conn)
    if current is not None:
        if status == TransactionStatus.IDLE:
            raise ConfigError(
                "the bound transaction ended inside the bind block: later calls would run as the login role",
                "do not commit inside `with bind(...)`; leave the block to commit",
            )
        if current is caller or current == caller:
            if len(steps) == 1:
                name, params = steps[0]
                return [conn.execute(statement(name), params).fetchall()]
            return _pipelined(conn, None, steps)
        return _pipelined(conn, caller, steps, back_to=current)
    if status == TransactionStatus.IDLE and conn.autocommit:
        if conn.prepare_threshold is None:
            return _one_string(conn, caller, steps)
        return _pipelined(conn, caller, steps)
    with acting_as(conn, caller.user_id, caller.role):
        return [conn.execute(statement(name), params).fetchall() for name, params in steps]


def _pipelined(
    conn: Conn, switch_to: Actor | None, steps: Sequence[Step], back_to: Actor | None = None
) -> list[Rows]:
    """One pipeline, one sync: the role and claims (if switching) and the steps share one
    implicit transaction (or the binding's, whose caller `back_to` is put back after)."""
    error: psycopg.Error | None = None
    cursors = []
    try:
        with conn.pipeline():  # its exit sends the one Sync
            try:
                if switch_to is not None:
                    conn.execute(SET_LOCAL, (switch_to.role, switch_to.claims))
                cursors = [conn.execute(statement(name), params) for name, params in steps]
                if back_to is not None:
                    conn.execute(SET_LOCAL, (back_to.role, back_to.claims))
            except psycopg.Error as exc:  # kept, so the exit raises "aborted" instead of logging it
                error = exc
    except psycopg.Error as exc:
        error = error or exc
    if error is not None:
        raise error
    return [cursor.fetchall() for cursor in cursors]


_TRANSFORMERS: WeakKeyDictionary[Conn, abc.Transformer] = WeakKeyDictionary()


def _one_string(conn: Conn, caller: Actor, steps: Sequence[Step]) -> list[Rows]:
    """The pooler-safe call: the role and claims (local to the transaction) and the steps as
    one string of statements, sent in the simple protocol: one round trip, one implicit
    transaction that commits (or rolls back on an error) when the string ends, nothing
    prepared, nothing left in the server session. Values are bound on the client as
    literals, quoted by psycopg for this connection (as a ClientCursor does). A step with a
    function (migration 0019) calls it; any other goes as its statement."""
    literals = _TRANSFORMERS.get(conn)
    if literals is None:
        literals = _TRANSFORMERS[conn] = Transformer(conn)
    literal = literals.as_literal
    parts = [caller.set_local]
    for name, params in steps:
        args = FUNCTIONS.get(name)
        if args is None:
            parts.append(ClientCursor(conn).mogrify(statement(name), params).encode(literals.encoding))
        else:
            values = b", ".join(literal(params[arg]) for arg in args)
            parts.append(b"select * from app." + name.encode() + b"(" + values + b")")
    cursor = conn.execute(b";\n".join(parts))  # no parameters: the simple protocol, several statements
    cursor.nextset()  # past the two SET LOCAL
    results = []
    for _ in steps:
        cursor.nextset()
        results.append(cursor.fetchall())
    return results


def fetch_all(conn: Conn, caller: Actor, name: str, params: Mapping[str, Any]) -> Rows:
    """The rows of one statement run as `caller` (see `run`)."""
    return run(conn, caller, (name, params))[0]


def fetch_one(conn: Conn, caller: Actor, name: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The first row of one statement run as `caller`, or None."""
    rows = run(conn, caller, (name, params))[0]
    return rows[0] if rows else None


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
