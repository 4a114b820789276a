"""`dbops wal enable`: the server settings and the replication slot PITR needs.

On the embedded server dbops sets them itself (ALTER SYSTEM, then a reload or a restart);
on any other server it names the exact statements and the restart, and refuses (exit 2)
until they hold: changing a production server's WAL settings is the DBA's call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql

from ops import embedded
from ops.backup.wal_files import RECEIVER_NAME, SLOT_NAME
from ops.db import connect
from ops.errors import ConfigError

MIN_WAL_SENDERS = 3  # the receiver, a base backup's WAL stream, and one spare


@dataclass(frozen=True)
class SettingChange:
    name: str
    current: str
    wanted: str
    needs_restart: bool

    @property
    def statement(self) -> str:
        return f"ALTER SYSTEM SET {self.name} = '{self.wanted}';"


@dataclass(frozen=True)
class EnableResult:
    state: Literal["enabled", "needs-settings", "dry-run"]
    changes: tuple[SettingChange, ...]
    restarted: bool
    slot: str
    slot_created: bool
    synchronous: bool


def show(conn: psycopg.Connection[Any], name: str) -> tuple[str, str]:
    """A setting's value and context (`postmaster` settings need a restart)."""
    row = conn.execute("select setting, context from pg_settings where name = %s", (name,)).fetchone()
    if row is None:
        raise ConfigError(
            f"this server has no setting {name}", "PITR with dbops needs PostgreSQL 17 or newer"
        )
    return str(row[0]), str(row[1])


def needed_changes(conn: psycopg.Connection[Any], *, synchronous: bool) -> list[SettingChange]:
    changes = []
    level, context = show(conn, "wal_level")
    if level not in ("replica", "logical"):
        changes.append(SettingChange("wal_level", level, "replica", context == "postmaster"))
    summarize, context = show(conn, "summarize_wal")
    if summarize != "on":
        changes.append(SettingChange("summarize_wal", summarize, "on", context == "postmaster"))
    senders, context = show(conn, "max_wal_senders")
    if int(senders) < MIN_WAL_SENDERS:
        changes.append(
            SettingChange("max_wal_senders", senders, str(MIN_WAL_SENDERS), context == "postmaster")
        )
    if synchronous:
        names, context = show(conn, "synchronous_standby_names")
        if RECEIVER_NAME not in [n.strip().strip('"') for n in names.replace("FIRST", "").split(",")]:
            changes.append(SettingChange("synchronous_standby_names", names, RECEIVER_NAME, False))
    return changes


def slot_exists(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "select 1 from pg_replication_slots where slot_name = %s and slot_type = 'physical'", (SLOT_NAME,)
    ).fetchone()
    return row is not None


def create_slot(conn: psycopg.Connection[Any]) -> bool:
    """The slot keeps the server from recycling WAL the receiver has not flushed yet."""
    if slot_exists(conn):
        return False
    conn.execute("select pg_create_physical_replication_slot(%s, true)", (SLOT_NAME,))
    return True


def enable_wal(
    conninfo: str, *, embedded_home: Path | None, synchronous: bool = False, dry_run: bool = False
) -> EnableResult:
    with connect(conninfo) as conn:
        changes = needed_changes(conn, synchronous=synchronous)
        if dry_run:
            return EnableResult("dry-run", tuple(changes), False, SLOT_NAME, False, synchronous)
        if changes and embedded_home is None:
            return EnableResult("needs-settings", tuple(changes), False, SLOT_NAME, False, synchronous)
        for change in changes:
            conn.execute(
                sql.SQL("alter system set {} = {}").format(
                    sql.Identifier(change.name), sql.Literal(change.wanted)
                )
            )
        if changes:
            conn.execute("select pg_reload_conf()")
    restarted = False
    if embedded_home is not None and any(c.needs_restart for c in changes):
        embedded.restart(embedded_home)
        restarted = True
    with connect(conninfo) as conn:
        deadline = time.monotonic() + 10
        # a reload reaches the server's processes asynchronously
        while needed_changes(conn, synchronous=synchronous) and time.monotonic() < deadline:
            if embedded_home is not None and not restarted and _pending_restart(conn):
                embedded.restart(embedded_home)
                restarted = True
                break
            time.sleep(0.1)
        still = needed_changes(conn, synchronous=synchronous)
        if still:
            raise ConfigError(
                f"{still[0].name} is still {still[0].current!r} after the change",
                "restart the server (`dbops db stop && dbops db start`), then `dbops wal enable` again",
            )
        created = create_slot(conn)
    return EnableResult("enabled", tuple(changes), restarted, SLOT_NAME, created, synchronous)


def _pending_restart(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("select bool_or(pending_restart) from pg_settings").fetchone()
    return bool(row and row[0])
