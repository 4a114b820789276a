"""Acting as an application user: one transaction as a role with PostgREST-style claims.

`set local role` and `set_config(..., true)` both end with the transaction, so nothing of
the caller leaks to the next transaction on the same (possibly pooled) connection. Used
inside a transaction that is already open, the block is a savepoint, whose release would
keep the settings until the outer transaction ends: there the role and claims in force
before the block are put back when it ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

ROLES = ("anon", "authenticated", "service_role")


@contextmanager
def acting_as(
    conn: psycopg.Connection[Any], user_id: UUID | str | None, role: str = "authenticated"
) -> Iterator[psycopg.Connection[Any]]:
    """Run the block in one transaction as `role`, with claims {"sub": user_id, "role": role}."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    claims = {"role": role} if user_id is None else {"sub": str(user_id), "role": role}
    nested = conn.info.transaction_status != TransactionStatus.IDLE
    with conn.transaction():
        before = None
        if nested:
            before = conn.execute(
                "select current_user, current_setting('request.jwt.claims', true)"
            ).fetchone()
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
        yield conn
        if before is not None:
            conn.execute(sql.SQL("set local role {}").format(sql.Identifier(before[0])))
            conn.execute("select set_config('request.jwt.claims', %s, true)", (before[1] or "",))
