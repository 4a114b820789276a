"""`dbops wal receive`: pg_receivewal, supervised, into the backup directory's `wal/`.

pg_receivewal streams from the slot `dbops` with `--synchronous` (it flushes what it
receives at once and reports that position back, so with `wal enable --synchronous` a
commit returns only once its WAL is on this disk). pg_receivewal itself names segments and
renames a finished `.partial`; dbops restarts it when it exits, logs the lag, and makes
sure only one receiver writes into a folder: a file lock (the kernel drops it when the
process dies, and unlike an advisory lock it outlives a server restart). The child gets
SIGKILL when dbops dies, so a killed supervisor never leaves a receiver behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from ops.backup.pg_programs import private_child, program
from ops.backup.tools import client_env
from ops.backup.wal_files import PARTIAL, RECEIVER_NAME, SLOT_NAME, is_segment, wal_dir
from ops.db import connect, redact
from ops.errors import Busy, ConfigError
from ops.wal.enable import slot_exists

LOCK_FILE = ".receive.lock"
SYSTEM_FILE = ".system_identifier"

Log = Callable[[str], None]


@dataclass(frozen=True)
class ReceiveSummary:
    wal_dir: str
    runs: int
    last_exit: int | None


@contextlib.contextmanager
def receiver_lock(folder: Path) -> Iterator[None]:
    """One receiver per WAL folder; Busy (exit 5) names the one already running."""
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise Busy(
                f"another `dbops wal receive` (pid {holder}) is writing into {folder}",
                "one receiver per WAL folder: stop that one first, or check `dbops wal status`",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def system_identifier(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("select system_identifier::text from pg_control_system()").fetchone()
    return str(row[0]) if row else ""


def claim_folder(folder: Path, system: str) -> None:
    """A WAL folder holds one cluster's WAL: mixing two would make every restore from it wrong."""
    marker = folder / SYSTEM_FILE
    if marker.exists():
        owner = marker.read_text(encoding="utf-8").strip()
        if owner != system:
            raise ConfigError(
                f"{folder} holds the WAL of another cluster (system {owner}; this server: {system})",
                "move that folder away, or pass --dir (DBOPS_BACKUP_DIR) for this server's backups",
            )
        return
    if any(is_segment(p.name.removesuffix(PARTIAL)) for p in folder.iterdir()):
        raise ConfigError(
            f"{folder} holds WAL of an unknown cluster",
            "move it away, or pass --dir for this server's backups",
        )
    marker.write_text(system + "\n", encoding="utf-8")
    marker.chmod(0o600)


def receiver_command(conninfo: str, folder: Path) -> tuple[list[str], dict[str, str]]:
    plain, env = client_env(conninfo)
    dsn = make_conninfo(plain, application_name=RECEIVER_NAME)
    command = [
        program("pg_receivewal"),
        "--directory",
        str(folder),
        "--slot",
        SLOT_NAME,
        "--synchronous",
        "--no-loop",
        "--status-interval",
        "1",
        "--verbose",
        "--dbname",
        dsn,
    ]
    return command, env


def prepare_folder(backup_dir: Path) -> Path:
    folder = wal_dir(backup_dir)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the WAL folder {folder}: {exc.strerror or exc}",
            "pass --dir (or set DBOPS_BACKUP_DIR) to a writable directory",
        ) from exc
    return folder


def receive_wal(
    conninfo: str,
    backup_dir: Path,
    *,
    log: Log,
    stop: threading.Event,
    lag_interval: float = 30.0,
    max_backoff: float = 30.0,
) -> ReceiveSummary:
    """Run pg_receivewal until `stop` is set, restarting it (with backoff) whenever it exits."""
    folder = prepare_folder(backup_dir)
    with receiver_lock(folder):
        with connect(conninfo) as conn:
            if not slot_exists(conn):
                raise ConfigError(
                    f"the replication slot {SLOT_NAME!r} does not exist", "run `dbops wal enable`"
                )
            claim_folder(folder, system_identifier(conn))
        command, env = receiver_command(conninfo, folder)
        runs, backoff, code = 0, 1.0, None
        next_lag = time.monotonic() + lag_interval
        while not stop.is_set():
            runs += 1
            log(f"starting pg_receivewal into {folder} (slot {SLOT_NAME}, synchronous)")
            child = subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                preexec_fn=private_child,
            )
            reader = threading.Thread(target=_forward, args=(child, log), daemon=True)
            reader.start()
            started = time.monotonic()
            while child.poll() is None and not stop.is_set():
                stop.wait(0.5)
                if time.monotonic() >= next_lag:
                    next_lag = time.monotonic() + lag_interval
                    log(_lag_line(conninfo, backup_dir))
            if child.poll() is None:
                child.send_signal(signal.SIGINT)  # pg_receivewal stops cleanly, keeping its .partial
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
            code = child.wait()
            reader.join(timeout=5)
            if stop.is_set():
                break
            if time.monotonic() - started > 60:
                backoff = 1.0
            log(f"pg_receivewal exited with {code}; restarting in {backoff:g} s")
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff)
        return ReceiveSummary(str(folder), runs, code)


def _forward(child: subprocess.Popen[str], log: Log) -> None:
    assert child.stderr is not None
    for line in child.stderr:
        if line.strip():
            log(redact(line.rstrip()))


def _lag_line(conninfo: str, backup_dir: Path) -> str:
    from ops.wal.status import WalThresholds, wal_status

    try:
        s = wal_status(conninfo, backup_dir, WalThresholds())
    except Exception as exc:  # a lag line must never stop the receiver
        return f"lag: unknown ({redact(str(exc).splitlines()[0] if str(exc) else repr(exc))})"
    return (
        f"lag: {s.lag_bytes if s.lag_bytes is not None else '?'} bytes, newest WAL {s.newest_wal or 'none'}"
    )
