"""`dbops restore ID --to-time T | --to-lsn L | --latest --target-dir DIR [--start]`.

PostgreSQL does the work: pg_combinebackup turns the backup's chain (full, then each
incremental) into one data directory, and the server's own archive recovery replays WAL
up to the target and promotes. dbops lays things out in an empty DIR:

    DIR/data/   the combined data directory, with recovery.signal and the recovery settings
    DIR/wal/    a copy of the WAL the recovery needs (restore_command reads only this)
    DIR/run/    the socket of the restored server (no TCP), DIR/log its log

The copy gets its own archive and replication settings switched off, so it never writes
into the live WAL folder nor waits for the live receiver. As root, DIR is handed to the
embedded server's system user before the server starts.
"""

from __future__ import annotations

import shlex
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import psycopg

from ops import embedded, progress
from ops.backup.manifest import Backup, find_backup
from ops.backup.pg_programs import (
    hand_over,
    last_lines,
    let_server_reach,
    make_private,
    program,
    run_as_server,
    run_program,
)
from ops.backup.wal_files import PARTIAL, list_wal, parse_lsn, segment_number, wal_dir
from ops.errors import ConfigError, Corruption, OperationFailed

PORT = 5432
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes, with room for /.s.PGSQL.5432


@dataclass(frozen=True)
class RecoveryTarget:
    kind: Literal["time", "lsn", "latest"]
    value: str | None = None

    def describe(self) -> str:
        return "the end of the WAL" if self.kind == "latest" else f"{self.kind} {self.value}"


@dataclass(frozen=True)
class PitrResult:
    id: str
    chain: tuple[str, ...]
    target: str
    target_dir: str
    data_dir: str
    started: bool
    url: str | None
    pid: int | None
    recovered_to: str | None  # commit time of the last transaction replayed
    recovered_lsn: str | None
    wal_segments: int
    duration_s: float


def parse_target(to_time: str | None, to_lsn: str | None, latest: bool) -> RecoveryTarget:
    given = [name for name, v in (("--to-time", to_time), ("--to-lsn", to_lsn), ("--latest", latest)) if v]
    if len(given) != 1:
        raise ConfigError(
            "a physical restore needs exactly one target" + (f" (got {', '.join(given)})" if given else ""),
            "pass --to-time T, --to-lsn L or --latest",
        )
    if to_time:
        try:
            moment = datetime.fromisoformat(to_time)
        except ValueError as exc:
            raise ConfigError(
                f"--to-time: cannot read {to_time!r}", "write it like 2026-11-25T14:02:00Z"
            ) from exc
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return RecoveryTarget("time", moment.astimezone(UTC).isoformat())
    if to_lsn:
        try:
            parse_lsn(to_lsn)
        except ValueError as exc:
            raise ConfigError(f"--to-lsn: {exc}", "write it like 0/5020DC0") from exc
        return RecoveryTarget("lsn", to_lsn.upper())
    return RecoveryTarget("latest")


def chain_of(backup: Backup, backup_dir: Path) -> list[Backup]:
    info = backup.manifest.physical
    if backup.manifest.kind != "physical" or info is None:
        raise ConfigError(
            f"backup {backup.id} is a logical backup (pg_dump)",
            "restore it with `dbops restore ID --target-url URL`, or pick a physical backup",
        )
    links = []
    for link in info.chain:
        try:
            links.append(find_backup(backup_dir, link))
        except ConfigError as exc:
            raise Corruption(
                f"backup {backup.id} needs {link}, which is gone", "restore from an older full backup"
            ) from exc
    return [*links, backup]


def check_target(backup: Backup, target: RecoveryTarget) -> None:
    info = backup.manifest.physical
    assert info is not None
    if target.kind == "time" and target.value is not None:
        earliest = datetime.fromisoformat(info.earliest_restorable)
        if datetime.fromisoformat(target.value) < earliest:
            raise ConfigError(
                f"{target.value} is before backup {backup.id} was consistent ({info.earliest_restorable})",
                "pick an older backup (`dbops backup list` shows each one's restorable range)",
            )
    if (
        target.kind == "lsn"
        and target.value is not None
        and parse_lsn(target.value) < parse_lsn(info.end_lsn)
    ):
        raise ConfigError(
            f"LSN {target.value} is before backup {backup.id} ends ({info.end_lsn})", "pick an older backup"
        )


def prepare_target_dir(target_dir: Path, *, create: bool = True) -> Path:
    target_dir = target_dir.resolve()
    if target_dir.exists() and (not target_dir.is_dir() or any(target_dir.iterdir())):
        raise ConfigError(
            f"{target_dir} is not empty; a restore never writes over anything",
            "pass --target-dir with a new or empty directory",
        )
    if len(str(target_dir / "run")) > _MAX_SOCKET_PATH:
        raise ConfigError(f"{target_dir} is too long a path for a Unix socket", "pick a shorter --target-dir")
    if create:
        target_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return target_dir


def restore_to_point(
    backup: Backup,
    backup_dir: Path,
    target: RecoveryTarget,
    target_dir: Path,
    *,
    start: bool,
    dry_run: bool = False,
) -> PitrResult:
    clock = time.monotonic()
    chain = chain_of(backup, backup_dir)
    check_target(backup, target)
    existed = target_dir.exists()
    target_dir = prepare_target_dir(target_dir, create=not dry_run)
    data = target_dir / "data"
    if dry_run:
        return PitrResult(
            backup.id, tuple(b.id for b in chain), target.describe(), str(target_dir), str(data),
            False, None, None, None, None, 0, round(time.monotonic() - clock, 3),
        )  # fmt: skip
    try:
        with progress.step(f"laying down {len(chain)} backup(s) and their WAL in {target_dir}"):
            staged = lay_down(backup, chain, backup_dir, target, target_dir)
    except BaseException:
        # nothing half-made stays behind: DIR is as it was (gone, or empty)
        shutil.rmtree(target_dir, ignore_errors=True)
        if existed:
            target_dir.mkdir(mode=0o700, exist_ok=True)
        raise
    if not start:
        return PitrResult(
            backup.id, tuple(b.id for b in chain), target.describe(), str(target_dir), str(data),
            False, None, None, None, None, staged, round(time.monotonic() - clock, 3),
        )  # fmt: skip
    with progress.step(f"recovering to {target.describe()}"):
        url, pid = start_restored(target_dir)
        recovered_to, recovered_lsn = wait_promoted(url, target_dir)
    return PitrResult(
        backup.id, tuple(b.id for b in chain), target.describe(), str(target_dir), str(data),
        True, url, pid, recovered_to, recovered_lsn, staged, round(time.monotonic() - clock, 3),
    )  # fmt: skip


def lay_down(
    backup: Backup, chain: list[Backup], backup_dir: Path, target: RecoveryTarget, target_dir: Path
) -> int:
    """DIR/data (the combined chain, recovery settings), DIR/wal, DIR/run; all for the server's user."""
    data = target_dir / "data"
    combine = run_program(
        [program("pg_combinebackup"), "--output", str(data), *(str(b.path / "base") for b in chain)]
    )
    if combine.returncode != 0:
        raise OperationFailed(
            f"pg_combinebackup failed: {last_lines(combine.stderr)}",
            f"run `dbops backup verify {backup.id}`; nothing was left in {target_dir}",
        )
    for leftover in (*data.glob(".s.PGSQL.*"), data / "postmaster.pid", data / ".handle_pids.json"):
        leftover.unlink(missing_ok=True)
    staged = stage_wal(backup, backup_dir, target_dir / "wal")
    write_recovery_settings(data, target_dir, target)
    (target_dir / "run").mkdir(mode=0o700)
    make_private(target_dir)
    let_server_reach(target_dir)
    hand_over(target_dir)
    return staged


def stage_wal(backup: Backup, backup_dir: Path, into: Path) -> int:
    """Copy the WAL from the backup's start on; the segment being received goes in under its final name."""
    info = backup.manifest.physical
    assert info is not None
    source = wal_dir(backup_dir)
    listing = list_wal(source)
    first = segment_number(info.start_wal, listing.segment_size)
    into.mkdir(mode=0o700)
    count = 0
    for name in listing.segments:
        if segment_number(name, listing.segment_size) >= first:
            shutil.copyfile(source / name, into / name)
            count += 1
    if listing.partial and not (into / listing.partial).exists():
        shutil.copyfile(source / (listing.partial + PARTIAL), into / listing.partial)
        count += 1
    for name in listing.histories:
        shutil.copyfile(source / name, into / name)
    return count


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def write_recovery_settings(data: Path, target_dir: Path, target: RecoveryTarget) -> None:
    wal = shlex.quote(str(target_dir / "wal"))
    settings: dict[str, str] = {
        "restore_command": f"cp {wal}/%f %p",
        "recovery_target_action": "promote",
        "recovery_target_timeline": "latest",
        # the copy must never write into the live archive, stream, or wait for the live receiver
        "archive_mode": "off",
        "archive_command": "",
        "archive_library": "",
        "synchronous_standby_names": "",
        "primary_conninfo": "",
        "primary_slot_name": "",
        "listen_addresses": "",
        "port": str(PORT),
        "unix_socket_directories": str(target_dir / "run"),
    }
    if target.kind == "time" and target.value:
        settings["recovery_target_time"] = target.value
    elif target.kind == "lsn" and target.value:
        settings["recovery_target_lsn"] = target.value
    lines = [f"{key} = {_quote(value)}" for key, value in settings.items()]
    with (data / "postgresql.auto.conf").open("a", encoding="utf-8") as fh:
        fh.write("\n# dbops restore: recovery of a copy\n" + "\n".join(lines) + "\n")
    (data / "recovery.signal").touch()


def start_restored(target_dir: Path, timeout: int = 3600) -> tuple[str, int]:
    data = target_dir / "data"
    result = run_as_server(
        [program("pg_ctl"), "-D", str(data), "-l", str(target_dir / "log"), "-w", "-t", str(timeout), "start"]
    )
    if result.returncode != 0:
        raise OperationFailed(
            f"the restored server did not start: {_log_error(target_dir) or last_lines(result.stderr)}",
            f"read {target_dir / 'log'}; the WAL may not reach the target (see `dbops wal status`)",
        )
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    return embedded.socket_url(target_dir / "run", PORT), pid


def wait_promoted(url: str, target_dir: Path, timeout: float = 3600) -> tuple[str | None, str | None]:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True, application_name="dbops") as conn:
        while True:
            row = conn.execute(
                "select pg_is_in_recovery(), pg_last_xact_replay_timestamp(), pg_last_wal_replay_lsn()::text"
            ).fetchone()
            assert row is not None
            if not row[0]:
                return (row[1].astimezone(UTC).isoformat() if row[1] else None), row[2]
            if time.monotonic() > deadline:
                raise OperationFailed("the restored server is still recovering", f"read {target_dir / 'log'}")
            time.sleep(0.05)


def stop_restored(target_dir: Path) -> None:
    data = target_dir / "data"
    if (data / "postmaster.pid").exists():
        run_as_server([program("pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"])


def _log_error(target_dir: Path) -> str:
    log = target_dir / "log"
    text = log.read_text(errors="replace") if log.exists() else ""
    fatal = [ln for ln in text.splitlines() if "FATAL" in ln or "PANIC" in ln]
    return fatal[-1] if fatal else last_lines(text, 1)
