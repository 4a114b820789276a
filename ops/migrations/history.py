"""Migration history: yoyo's tables (so `yoyo list` keeps working) plus dbops' checksums.

yoyo writes history after a migration commits and guards with a lock row that outlives a
killed process. Here the history rows are written on the migration's own connection, inside
its transaction, and the lock is an advisory lock (ops.locks); stale yoyo lock rows are
cleared.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import psycopg

from ops import sqlfiles
from ops.db import Conn
from ops.locks import LockHolder, holders
from ops.migrations.files import MigrationFile

MIGRATION_TABLE = "_yoyo_migration"


@dataclass(frozen=True)
class AppliedMigration:
    id: str
    applied_at: datetime
    sha256: str | None
    normalized_sha256: str | None


def _yoyo_backend(conn: Conn) -> Any:
    """yoyo's PostgreSQL backend bound to our connection instead of one of its own."""
    from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend

    class SharedConnectionBackend(PostgresqlPsycopgBackend):  # type: ignore[misc]
        def __init__(self, connection: Conn) -> None:
            self.uri = SimpleNamespace(database=connection.info.dbname)
            self.DatabaseError = psycopg.DatabaseError
            self._connection = connection
            self.migration_table = MIGRATION_TABLE
            self.has_transactional_ddl = True
            self.schema = None

        def get_log_data(self, migration: Any = None, operation: str = "apply") -> Any:
            data = super().get_log_data(migration, operation)
            data["hostname"] = socket.gethostname()  # getfqdn may wait on DNS
            return data

    return SharedConnectionBackend(conn)


class _YoyoRef:
    """The little of yoyo's Migration that its backend reads when marking."""

    def __init__(self, migration_id: str) -> None:
        from yoyo.migrations import get_migration_hash

        self.id = migration_id
        self.hash = get_migration_hash(migration_id)


def ensure_history(conn: Conn) -> None:
    """Create or upgrade the history tables; call with the migrate lock held, outside a transaction."""
    from yoyo import internalmigrations

    backend = _yoyo_backend(conn)
    if internalmigrations.needs_upgrading(backend):
        internalmigrations.upgrade(backend)
    with conn.transaction():
        conn.execute(sqlfiles.query(__name__, "history_setup"))


def history_exists(conn: Conn) -> bool:
    row = conn.execute(sqlfiles.query(__name__, "history_tables")).fetchone()
    return bool(row and row[0] and row[1])


def read_applied(conn: Conn) -> dict[str, AppliedMigration]:
    if not history_exists(conn):
        row = conn.execute(sqlfiles.query(__name__, "history_tables")).fetchone()
        if not (row and row[0]):
            return {}
        rows = conn.execute("select migration_id, applied_at_utc, null, null from _yoyo_migration").fetchall()
    else:
        rows = conn.execute(sqlfiles.query(__name__, "history_applied")).fetchall()
    return {r[0]: AppliedMigration(r[0], r[1], r[2], r[3]) for r in rows}


def record_apply(
    conn: Conn, migration: MigrationFile, duration_ms: int | None, *, log: str = "apply"
) -> None:
    """Mark applied in yoyo's tables and store the checksum (caller holds the transaction)."""
    backend = _yoyo_backend(conn)
    ref = _YoyoRef(migration.id)
    backend.execute(
        backend.format_sql("DELETE FROM {0.migration_table_quoted} WHERE {quoted.migration_hash} = :h"),
        {"h": ref.hash},
    )
    backend.mark_one(ref, log=False)
    backend.log_migration(ref, log)
    conn.execute(
        sqlfiles.query(__name__, "history_record_apply"),
        {
            "id": migration.id,
            "sha256": migration.sha256,
            "normalized": migration.normalized_sha256,
            "transactional": migration.transactional,
            "duration_ms": duration_ms,
        },
    )


def rerecord_legacy_checksums(conn: Conn, files: Sequence[MigrationFile]) -> list[str]:
    """Replace comment-free checksums recorded by the previous normaliser with the current one's.

    Only a recorded value that is exactly the file's legacy checksum is replaced, so an
    edited file stays edited. Returns the ids re-recorded.
    """
    done: list[str] = []
    for f in files:
        if f.legacy_normalized_sha256 == f.normalized_sha256:
            continue
        cur = conn.execute(
            "update dbops.migration_checksum set normalized_sha256 = %s"
            " where migration_id = %s and normalized_sha256 = %s",
            (f.normalized_sha256, f.id, f.legacy_normalized_sha256),
        )
        if cur.rowcount:
            done.append(f.id)
    return done


def record_rollback(conn: Conn, migration_id: str, *, log: str = "rollback") -> None:
    backend = _yoyo_backend(conn)
    ref = _YoyoRef(migration_id)
    backend.unmark_one(ref, log=False)
    backend.log_migration(ref, log)
    conn.execute("delete from dbops.migration_checksum where migration_id = %s", (migration_id,))


def clear_stale_yoyo_locks(conn: Conn, *, dry_run: bool = False) -> list[int]:
    """Delete yoyo lock rows whose process is gone; return the pids cleared.

    Call only while holding the migrate advisory lock: then no dbops run is mid-migration,
    and a row of a live local process (a plain `yoyo apply`) is left alone.
    """
    row = conn.execute(sqlfiles.query(__name__, "history_tables")).fetchone()
    if not (row and row[2]):
        return []
    stale = [pid for (pid,) in conn.execute("select pid from yoyo_lock").fetchall() if not _alive(pid)]
    if stale and not dry_run:
        conn.execute("delete from yoyo_lock where pid = any(%s)", (stale,))
    return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class UnlockReport:
    holders: tuple[LockHolder, ...]
    yoyo_rows_cleared: tuple[int, ...]
    dry_run: bool


def unlock(conn: Conn, *, dry_run: bool = False) -> UnlockReport:
    """Who holds dbops locks now, and clear yoyo lock rows left by ended processes.

    Advisory locks need no clearing: the server drops them with their session.
    """
    return UnlockReport(
        tuple(holders(conn)),
        tuple(clear_stale_yoyo_locks(conn, dry_run=dry_run)),
        dry_run,
    )
