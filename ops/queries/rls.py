"""Acting as an application user: a role with PostgREST-style claims, per transaction or per connection.

`acting_as` runs a block in one transaction: `set_config(..., true)` ends with the
transaction, so nothing of the caller leaks to the next transaction on the same (possibly
pooled) connection. Used inside a transaction that is already open, the block is a
savepoint, whose release would keep the settings until the outer transaction ends: there
the role and claims in force before the block are put back when it ends.

`bound_as` sets the role and claims for the connection's session instead (one round trip
on entry, one on exit), so that every statement of the block runs as the caller with no
per-statement cost: an application binds its connection for the length of one request.
The session's own role and no claims are restored on exit, also when the block raises.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from uuid import UUID
from weakref import WeakKeyDictionary

from psycopg.pq import TransactionStatus

from ops.db import Conn
from ops.errors import ConfigError

ROLES = ("anon", "authenticated", "service_role")

# Role and claims for the rest of the transaction, in one round trip (like SET LOCAL ROLE).
SET_LOCAL = "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)"
SET_SESSION = "select set_config('role', %s, false), set_config('request.jwt.claims', %s, false)"
RESET_SESSION = "reset role; reset request.jwt.claims"


@dataclass(frozen=True)
class Actor:
    """Who a statement runs as: a database role and the user id of the claims (if any)."""

    role: str
    user_id: UUID | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}: use one of {', '.join(ROLES)}")

    @property
    def claims(self) -> str:
        body = {"role": self.role} if self.user_id is None else {"sub": str(self.user_id), "role": self.role}
        return json.dumps(body)


@lru_cache(maxsize=1024)
def actor(role: str, user_id: UUID | str | None = None) -> Actor:
    """The Actor for a role and user id, one object per pair (so comparing is cheap)."""
    return Actor(role, None if user_id is None else UUID(str(user_id)))


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
    """Bind the connection's session to `role` and the claims of `user_id` for the block.

    Needs an idle autocommit connection not bound already. Statements of the block run as
    the caller, each in its own transaction; `acting_as` inside still switches per
    transaction, and the binding is back in force after it.
    """
    caller = actor(role, user_id)
    if not conn.autocommit or conn.info.transaction_status != TransactionStatus.IDLE:
        raise ConfigError(
            "binding a connection to a caller needs an idle connection in autocommit mode",
            "bind outside any transaction, on an autocommit connection such as ops.db.connect(url)",
        )
    if conn in _BOUND:
        raise ConfigError(
            f"the connection is already bound to {_BOUND[conn]}",
            "leave the first binding's block first, or use another connection",
        )
    conn.execute(SET_SESSION, (caller.role, caller.claims))
    _BOUND[conn] = caller
    try:
        yield conn
    finally:
        del _BOUND[conn]
        if not conn.closed and not conn.broken:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.rollback()
            conn.execute(RESET_SESSION)
