"""Namespaced advisory locks, one per job family.

Session-level locks taken with the try-variant: PostgreSQL releases them when the holding
connection ends, so a killed run never leaves a lock behind.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

import psycopg

from ops import sqlfiles
from ops.db import Conn
from ops.errors import Busy

NAMESPACE = 0x64626F70  # "dbop": keeps our keys apart from the application's advisory locks


class JobFamily(IntEnum):
    MIGRATE = 1  # migrations and policies
    RETENTION = 2  # evict, archive, retention run
    BACKUP = 3


# A DBA's migrate waits for a colleague's run; cron jobs answer "busy" at once.
DEFAULT_WAIT = {JobFamily.MIGRATE: 60.0, JobFamily.RETENTION: 0.0, JobFamily.BACKUP: 0.0}


@dataclass(frozen=True)
class LockHolder:
    family: str
    pid: int
    application_name: str
    client: str
    since: str
    state: str

    def describe(self) -> str:
        return (
            f"pid {self.pid} ({self.application_name or 'no application_name'}, "
            f"{self.client}, connected since {self.since})"
        )


def holders(conn: Conn, family: JobFamily | None = None) -> list[LockHolder]:
    rows = conn.execute(
        sqlfiles.query(__name__, "lock_holders"),
        {"namespace": NAMESPACE, "family": int(family) if family else None},
    ).fetchall()
    result = []
    for fam, pid, app, client, since, state in rows:
        name = JobFamily(fam).name.lower() if fam in JobFamily._value2member_map_ else str(fam)
        stamp = since.isoformat(timespec="seconds") if isinstance(since, datetime) else str(since)
        result.append(LockHolder(name, pid, app, client, stamp, state))
    return result


@contextmanager
def job_lock(conn: Conn, family: JobFamily, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the family's lock on `conn` (autocommit) for the block; raise Busy after the wait."""
    wait = DEFAULT_WAIT[family] if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        got = conn.execute("select pg_try_advisory_lock(%s, %s)", (NAMESPACE, int(family))).fetchone()
        if got and got[0]:
            break
        if time.monotonic() >= deadline:
            found = holders(conn, family)
            who = found[0].describe() if found else "a session that just ended"
            raise Busy(
                f"another run holds the {family.name.lower()} lock: {who}",
                "wait and retry, pass --lock-wait SECONDS, or see `dbops unlock`",
            )
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.5)
    try:
        yield
    finally:
        if not conn.closed:
            # a broken connection releases the lock by ending
            with contextlib.suppress(psycopg.Error):
                conn.execute("select pg_advisory_unlock(%s, %s)", (NAMESPACE, int(family)))


@dataclass(frozen=True)
class UnlockReport:
    holders: tuple[LockHolder, ...]
    yoyo_rows_cleared: tuple[int, ...]
    dry_run: bool


def unlock(conn: Conn, *, dry_run: bool = False) -> UnlockReport:
    """Who holds dbops locks now, and clear yoyo lock rows left by ended processes.

    Advisory locks need no clearing: the server drops them with their session.
    """
    from ops.migrations import history

    return UnlockReport(
        tuple(holders(conn)),
        tuple(history.clear_stale_yoyo_locks(conn, dry_run=dry_run)),
        dry_run,
    )
