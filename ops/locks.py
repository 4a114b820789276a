"""Namespaced advisory locks, one per job family.

Session-level locks taken with the try-variant: PostgreSQL releases them when the holding
connection ends, so a killed run never leaves a lock behind. A session lock needs one
server session for the whole run: the CLI refuses a URL through a pooler (ops.db.check_direct),
and the lock's release verifies that the backend that took it is the one releasing it.
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
from ops.errors import Busy, ConfigError
from ops.retry import backoff_delay

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
    attempt = 0
    while True:
        got = conn.execute(
            "select pg_try_advisory_lock(%s, %s), pg_backend_pid()", (NAMESPACE, int(family))
        ).fetchone()
        if got and got[0]:
            holder = int(got[1])
            break
        if time.monotonic() >= deadline:
            found = holders(conn, family)
            who = found[0].describe() if found else "a session that just ended"
            raise Busy(
                f"another run holds the {family.name.lower()} lock: {who}",
                "wait and retry, pass --lock-wait SECONDS, or see `dbops unlock`",
            )
        time.sleep(min(backoff_delay(attempt, first=0.05, cap=0.5), max(0.0, deadline - time.monotonic())))
        attempt += 1
    released: tuple[bool, int] | None = None
    try:
        yield
    finally:
        if not conn.closed:
            # a broken connection releases the lock by ending
            with contextlib.suppress(psycopg.Error):
                row = conn.execute(
                    "select pg_advisory_unlock(%s, %s), pg_backend_pid()", (NAMESPACE, int(family))
                ).fetchone()
                released = (bool(row[0]), int(row[1])) if row else None
    if released is not None and released != (True, holder):
        raise ConfigError(
            f"the {family.name.lower()} lock was taken by server process {holder} and released by "
            f"{released[1]} ({'held' if released[0] else 'not held'} there): the connection changed "
            "server sessions during the run (a transaction-mode pooler?), so the lock protected nothing",
            "give dbops a direct URL: --direct-url or DBOPS_DIRECT_URL; check what this run changed",
        )
