"""Acting as an application user: one transaction as a role with PostgREST-style claims.

`set local role` and `set_config(..., true)` both end with the transaction, so nothing of
the caller leaks to the next transaction on the same (possibly pooled) connection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

ROLES = ("anon", "authenticated", "service_role")


@contextmanager
def acting_as(
    conn: psycopg.Connection[Any], user_id: UUID | str | None, role: str = "authenticated"
) -> Iterator[psycopg.Connection[Any]]:
    """Run the block in one transaction as `role`, with claims {"sub": user_id, "role": role}."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    claims = {"role": role} if user_id is None else {"sub": str(user_id), "role": role}
    with conn.transaction():
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
        yield conn
