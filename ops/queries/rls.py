"""Acting as an application user: a role with PostgREST-style claims, always per transaction.

`acting_as` runs a block in one transaction: `set_config(..., true)` ends with the
transaction, so nothing of the caller leaks to the next transaction on the same (possibly
pooled) connection. Used inside a transaction that is already open, the block is a
savepoint, whose release would keep the settings until the outer transaction ends: there
the role and claims in force before the block are put back when it ends.

`bound_as` opens one transaction for a block (one request) and sets the role and claims
local to it (BEGIN and both settings in one round trip; COMMIT on exit, another), so that
every statement of the block runs as the caller with no per-statement cost. Nothing is set
for the session: behind a transaction-mode pooler the server connection serves this
client for the whole transaction, and the binding ends with it, so it can never reach
another client's statements. A block that raises still commits what completed (as calls
on an unbound connection would have), unless a statement failed: then it rolls back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, lru_cache
from uuid import UUID
from weakref import WeakKeyDictionary

from psycopg.pq import TransactionStatus

from ops.db import Conn
from ops.errors import ConfigError

ROLES = ("anon", "authenticated", "service_role")
BEGIN, COMMIT, ROLLBACK = b"begin", b"commit", b"rollback"

# Role and claims for the rest of the transaction, in one round trip (like SET LOCAL ROLE).
SET_LOCAL = "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)"


@dataclass(frozen=True)
class Actor:
    """Who a statement runs as: a database role and the user id of the claims (if any)."""

    role: str
    user_id: UUID | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}: use one of {', '.join(ROLES)}")

    @cached_property
    def claims(self) -> str:
        body = {"role": self.role} if self.user_id is None else {"sub": str(self.user_id), "role": self.role}
        return json.dumps(body)

    @cached_property
    def set_local(self) -> bytes:
        """The role and claims for the rest of the transaction as two statements of one string
        (SET LOCAL: utility statements, nothing to plan). Both values are quoted as they are:
        the role is one of ROLES, the claims the JSON of a UUID and a role, so neither holds a
        quote or a backslash (checked), and the literal reads the same whatever the server's
        standard_conforming_strings."""
        claims = self.claims
        if "'" in claims or "\\" in claims or '"' in self.role:
            raise ValueError(f"claims {claims!r} cannot be quoted as they are")
        return f"set local role \"{self.role}\"; set local request.jwt.claims = '{claims}'".encode()


@lru_cache(maxsize=1024)
def actor(role: str, user_id: UUID | str | None = None) -> Actor:
    """The Actor for a role and user id, one object per pair (so comparing is cheap)."""
    if user_id is None or isinstance(user_id, UUID):
        return Actor(role, user_id)
    return Actor(role, UUID(str(user_id)))


_BOUND: WeakKeyDictionary[Conn, Actor] = WeakKeyDictionary()


def bound_actor(conn: Conn) -> Actor | None:
    """The actor the connection's session is bound to by `bound_as`, if any."""
    return _BOUND.get(conn)


@contextmanager
def acting_as(conn: Conn, user_id: UUID | str | None, role: str = "authenticated") -> Iterator[Conn]:
    """Run the block in one transaction as `role`, with claims {"sub": user_id, "role": role}."""
    caller = actor(role, user_id)
    nested = conn.info.transaction_status != TransactionStatus.IDLE
    with conn.transaction():
        before = None
        if nested:
            before = conn.execute(
                "select current_user, current_setting('request.jwt.claims', true)"
            ).fetchone()
        conn.execute(SET_LOCAL, (caller.role, caller.claims))
        yield conn
        if before is not None:
            conn.execute(SET_LOCAL, (before[0], before[1] or ""))


@contextmanager
def bound_as(conn: Conn, user_id: UUID | str | None, role: str = "authenticated") -> Iterator[Conn]:
    """Run the block in one transaction as `role` with the claims of `user_id`.

    Needs an idle autocommit connection not bound already. `acting_as` inside switches
    for its own block and puts this caller back after it.
    """
    caller = actor(role, user_id)
    if conn in _BOUND:
        raise ConfigError(
            f"the connection is already bound to {_BOUND[conn]}",
            "leave the first binding's block first, or use another connection",
        )
    if not conn.autocommit or conn.info.transaction_status != TransactionStatus.IDLE:
        raise ConfigError(
            "binding a connection to a caller needs an idle connection in autocommit mode",
            "bind outside any transaction, on an autocommit connection such as ops.db.connect(url)",
        )
    with conn.pipeline():  # one round trip: the transaction and its caller
        conn.execute(BEGIN)
        conn.execute(SET_LOCAL, (caller.role, caller.claims))
    _BOUND[conn] = caller
    try:
        yield conn
    finally:
        del _BOUND[conn]
        if not conn.closed and not conn.broken:
            status = conn.pgconn.transaction_status  # read again: the block ran since the check above
            if status == TransactionStatus.INTRANS:
                conn.execute(COMMIT)
            elif status != TransactionStatus.IDLE:
                conn.execute(ROLLBACK)
