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

from ops import progress, sqlfiles
from ops.db import Conn
from ops.errors import Busy, ConfigError
from ops.failpoints import failpoint
from ops.retry import backoff_delay

NAMESPACE = 0x64626F70  # "dbop": keeps our keys apart from the application's advisory locks
SCRATCH_NAMESPACE = NAMESPACE + 1  # one key per scratch database, held by the run that uses it


class JobFamily(IntEnum):
    MIGRATE = 1  # migrations and policies
    RETENTION = 2  # evict, archive, retention run
    BACKUP = 3
    CHECK = 4  # dbops check: no lock of its own, checks run side by side
    SCHEMA = 10  # not a job: the schema lock (see SCHEMA_MODE)


# The lock model (README, "Jobs together"). Each job family but `check` holds its own lock
# exclusively: two runs of one family never overlap. Every family also holds the schema lock:
# migrate exclusively, the jobs that rely on a column list or a snapshot of the schema
# (retention, backup, check) shared, so they run side by side but never beside a migration.
SCHEMA_MODE: dict[JobFamily, str] = {
    JobFamily.MIGRATE: "exclusive",
    JobFamily.RETENTION: "shared",
    JobFamily.BACKUP: "shared",
    JobFamily.CHECK: "shared",
}
_OWN_LOCK = (JobFamily.MIGRATE, JobFamily.RETENTION, JobFamily.BACKUP)

NOTICE_AFTER_S = 1.0  # a wait longer than this is said, naming who holds the lock

# A DBA's migrate waits for a colleague's run (or a running job); cron jobs answer "busy" at once.
DEFAULT_WAIT = {
    JobFamily.MIGRATE: 60.0,
    JobFamily.RETENTION: 0.0,
    JobFamily.BACKUP: 0.0,
    JobFamily.CHECK: 0.0,
}


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


def _try(conn: Conn, key: JobFamily, shared: bool) -> bool:
    take = "select pg_try_advisory_lock_shared(%s, %s)" if shared else "select pg_try_advisory_lock(%s, %s)"
    row = conn.execute(take, (NAMESPACE, int(key))).fetchone()
    return bool(row and row[0])


def _release(conn: Conn, key: JobFamily, shared: bool) -> tuple[bool, int] | None:
    """Release one lock: (whether it was held, the server process that released it)."""
    if conn.closed:
        return None  # a broken connection releases its locks by ending
    with contextlib.suppress(psycopg.Error):
        free = (
            "select pg_advisory_unlock_shared(%s, %s), pg_backend_pid()"
            if shared
            else "select pg_advisory_unlock(%s, %s), pg_backend_pid()"
        )
        row = conn.execute(free, (NAMESPACE, int(key))).fetchone()
        return (bool(row[0]), int(row[1])) if row else None
    return None


def _say_waiting(conn: Conn, family: JobFamily, blocked_by: JobFamily, wait: float) -> None:
    """The one line an operator sees when a run waits (an ops.progress notice, cron's too)."""
    found = [h for h in holders(conn, blocked_by) if h.pid != conn.info.backend_pid]
    who = found[0].describe() if found else "a session that is ending"
    what = "the schema lock" if blocked_by is JobFamily.SCHEMA else f"the {family.name.lower()} lock"
    progress.notice(f"dbops: waiting for {who}, which holds {what}; giving up after {wait:g}s (--lock-wait)")


def _busy(conn: Conn, family: JobFamily, blocked_by: JobFamily) -> Busy:
    found = [h for h in holders(conn, blocked_by) if h.pid != conn.info.backend_pid]
    who = found[0].describe() if found else "a session that just ended"
    if blocked_by is not JobFamily.SCHEMA:
        return Busy(
            f"another run holds the {family.name.lower()} lock: {who}",
            "wait and retry, pass --lock-wait SECONDS, or see `dbops unlock`",
        )
    if SCHEMA_MODE[family] == "shared":
        return Busy(
            f"a migration is running (dbops migrate holds the schema lock): {who}",
            "run again when it is done (cron: the next run will), or pass --lock-wait SECONDS",
        )
    return Busy(
        f"jobs that rely on the schema are running (retention, backup or check hold the schema "
        f"lock): {who}{f' and {len(found) - 1} more' if len(found) > 1 else ''}",
        "wait for them, pass --lock-wait SECONDS, or see `dbops unlock`",
    )


@contextmanager
def job_lock(conn: Conn, family: JobFamily, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the family's locks on `conn` (autocommit) for the block: its own lock (exclusive)
    and the schema lock (SCHEMA_MODE); raise Busy, naming the holder, after the wait.

    Every lock must be released by the server process that took it: if the connection
    changed server sessions (a transaction-mode pooler), the run is reported, not trusted."""
    wait = DEFAULT_WAIT[family] if wait_seconds is None else wait_seconds
    started = time.monotonic()
    deadline = started + wait
    said = False
    attempt = 0
    shared = SCHEMA_MODE[family] == "shared"
    own = family in _OWN_LOCK
    have_own = False
    with contextlib.ExitStack() as waiting:
        while True:
            have_own = have_own or not own or _try(conn, family, False)
            if have_own and _try(conn, JobFamily.SCHEMA, shared):
                break
            if time.monotonic() >= deadline:
                if have_own and own:
                    _release(conn, family, False)
                raise _busy(conn, family, JobFamily.SCHEMA if have_own else family)
            if not said and time.monotonic() - started >= NOTICE_AFTER_S:
                said = True
                _say_waiting(conn, family, JobFamily.SCHEMA if have_own else family, wait)
                waiting.enter_context(progress.step(f"waiting for the {family.name.lower()} lock"))
            failpoint("locks.wait")
            pause = backoff_delay(attempt, first=0.05, cap=0.5)
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            attempt += 1
    row = conn.execute("select pg_backend_pid()").fetchone()
    holder = int(row[0]) if row else 0
    released: list[tuple[bool, int] | None] = []
    try:
        yield
    finally:
        released.append(_release(conn, JobFamily.SCHEMA, shared))
        if own:
            released.append(_release(conn, family, False))
    for outcome in released:
        if outcome is not None and outcome != (True, holder):
            raise ConfigError(
                f"the {family.name.lower()} lock was taken by server process {holder} and released by "
                f"{outcome[1]} ({'held' if outcome[0] else 'not held'} there): the connection changed "
                "server sessions during the run (a transaction-mode pooler?), so the lock protected nothing",
                "give dbops a direct URL: --direct-url or DBOPS_DIRECT_URL; check what this run changed",
            )
