"""`dbops wal status`: is every commit reaching the WAL folder, and how far behind is it?

Lag is measured by the server (pg_stat_replication of the receiver, the slot's position)
and by the folder (the newest WAL file and when it was written); thresholds turn it into
findings (exit 1) for cron and monitoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from ops.backup.wal_files import RECEIVER_NAME, SLOT_NAME, list_wal
from ops.db import connect
from ops.wal.enable import needed_changes


@dataclass(frozen=True)
class WalThresholds:
    max_lag_bytes: int = 16 * 1024 * 1024
    max_lag_seconds: float = 60.0
    max_retained_bytes: int = 1024 * 1024 * 1024


@dataclass(frozen=True)
class WalStatus:
    wal_dir: str
    server_lsn: str
    receiver_state: str | None  # pg_stat_replication.state of the receiver, None: not connected
    receiver_sync_state: str | None  # sync: commits wait for it; async: they do not
    flushed_lsn: str | None  # what the receiver has on disk (its report, or the slot's position)
    lag_bytes: int | None
    lag_seconds: float | None
    slot_exists: bool
    slot_active: bool
    slot_wal_status: str | None
    slot_retained_bytes: int | None
    newest_wal: str | None
    newest_wal_at: str | None
    settings_missing: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def wal_status(conninfo: str, backup_dir: Path, thresholds: WalThresholds) -> WalStatus:
    from ops.backup.wal_files import wal_dir

    folder = wal_dir(backup_dir)
    listing = list_wal(folder)
    with connect(conninfo) as conn:
        server_lsn = _scalar(conn, "select pg_current_wal_lsn()::text")
        receiver = conn.execute(
            "select state, sync_state, flush_lsn::text, pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn),"
            " extract(epoch from coalesce(flush_lag, interval '0'))"
            " from pg_stat_replication where application_name = %s order by backend_start desc limit 1",
            (RECEIVER_NAME,),
        ).fetchone()
        slot = conn.execute(
            "select active, wal_status, restart_lsn::text,"
            " pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)"
            " from pg_replication_slots where slot_name = %s",
            (SLOT_NAME,),
        ).fetchone()
        missing = tuple(c.name for c in needed_changes(conn, synchronous=False))
    now = datetime.now(UTC)
    if receiver is not None:
        state, sync_state, flushed, lag_bytes, lag_seconds = receiver
        lag_b: int | None = int(lag_bytes) if lag_bytes is not None else None
        lag_s: float | None = float(lag_seconds) if lag_seconds is not None else None
    else:
        state = sync_state = None
        flushed = slot[2] if slot else None
        lag_b = int(slot[3]) if slot and slot[3] is not None else None
        lag_s = (now - listing.newest_at).total_seconds() if listing.newest_at and lag_b else None
    problems = _problems(
        thresholds,
        receiving=receiver is not None,
        slot=slot,
        lag_bytes=lag_b,
        lag_seconds=lag_s,
        missing=missing,
    )
    return WalStatus(
        wal_dir=str(folder),
        server_lsn=server_lsn,
        receiver_state=state,
        receiver_sync_state=sync_state,
        flushed_lsn=flushed,
        lag_bytes=lag_b,
        lag_seconds=None if lag_s is None else round(lag_s, 3),
        slot_exists=slot is not None,
        slot_active=bool(slot and slot[0]),
        slot_wal_status=slot[1] if slot else None,
        slot_retained_bytes=int(slot[3]) if slot and slot[3] is not None else None,
        newest_wal=listing.newest,
        newest_wal_at=listing.newest_at.isoformat() if listing.newest_at else None,
        settings_missing=missing,
        problems=tuple(problems),
    )


def _problems(
    thresholds: WalThresholds,
    *,
    receiving: bool,
    slot: Any,
    lag_bytes: int | None,
    lag_seconds: float | None,
    missing: tuple[str, ...],
) -> list[str]:
    problems = []
    if missing:
        problems.append(f"settings not ready for PITR: {', '.join(missing)} (run `dbops wal enable`)")
    if slot is None:
        problems.append(f"no replication slot {SLOT_NAME!r} (run `dbops wal enable`)")
    elif slot[1] == "lost":
        problems.append(f"slot {SLOT_NAME!r} lost WAL the receiver never got: take a new full backup")
    if not receiving:
        problems.append("no WAL receiver is streaming (start `dbops wal receive`)")
    if lag_bytes is not None and lag_bytes > thresholds.max_lag_bytes:
        problems.append(f"receiver lags {lag_bytes} bytes (more than {thresholds.max_lag_bytes})")
    if lag_seconds is not None and lag_seconds > thresholds.max_lag_seconds:
        problems.append(f"receiver lags {lag_seconds:.1f} s (more than {thresholds.max_lag_seconds:g} s)")
    retained = int(slot[3]) if slot is not None and slot[3] is not None else None
    if retained is not None and retained > thresholds.max_retained_bytes:
        problems.append(
            f"slot {SLOT_NAME!r} holds {retained} bytes of WAL on the server "
            f"(more than {thresholds.max_retained_bytes}): the receiver is behind or stopped"
        )
    return problems


def _scalar(conn: psycopg.Connection[Any], query: str) -> str:
    row = conn.execute(query).fetchone()
    return "" if row is None else str(row[0])
