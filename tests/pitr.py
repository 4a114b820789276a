"""A PITR server of a test's own: an embedded PostgreSQL under tmp, its backup folder and receiver.

The shared test server is never touched: PITR restarts, kills and reconfigures its server.
Every server and receiver started here is stopped in teardown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from click.testing import CliRunner, Result

from ops import embedded
from ops.cli import cli
from tests.server import ROOT, server_folder


@dataclass
class PitrServer:
    home: Path
    backups: Path
    url: str
    receivers: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str | None]:
        return {
            "DBOPS_HOME": str(self.home),
            "DBOPS_BACKUP_DIR": str(self.backups),
            "DATABASE_URL": None,
            "DBOPS_DATABASE_URL": None,
            "PGHOST": None,
            "PGPORT": None,
            "PGDATABASE": None,
            "PGUSER": None,
            "PGSERVICE": None,
        }

    def dbops(self, *args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True)

    def scalar(self, query: str, params: Any = None) -> Any:
        with self.connect() as conn:
            row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
        return None if row is None else row[0]

    def start_receiver(self, *extra_env: tuple[str, str]) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if k not in self.env}
        env.update({k: v for k, v in self.env.items() if v is not None})
        env.update(dict(extra_env))
        log = self.home.parent / f"receiver-{len(self.receivers)}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ops", "wal", "receive", "--lag-interval", "3600"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        proc.log = log  # type: ignore[attr-defined]
        self.receivers.append(proc)
        return proc

    def receiver_log(self, proc: subprocess.Popen[str]) -> str:
        return Path(proc.log).read_text()  # type: ignore[attr-defined]

    def stop_receivers(self) -> None:
        for proc in self.receivers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.receivers.clear()


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll a condition (never a bare sleep): fail naming what did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def receiver_flushed(server: PitrServer) -> bool:
    """The receiver has on disk everything the server has written."""
    row = server.scalar(
        "select flush_lsn >= pg_current_wal_lsn() from pg_stat_replication"
        " where application_name = 'dbops_wal'"
    )
    return bool(row)


def start_pitr_server(base: Path) -> PitrServer:
    home = base / "home"
    home.mkdir(parents=True)
    url = embedded.ensure_running(home)
    return PitrServer(home, base / "backups", url)


def stop_pitr_server(server: PitrServer) -> None:
    server.stop_receivers()
    try:
        embedded.stop(server.home)
    except subprocess.CalledProcessError:
        pid = embedded.status(server.home).pid
        if pid:
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown: a test server's data is thrown away


def pitr_server(prefix: str) -> Iterator[PitrServer]:
    """A server in a fresh folder under /tmp (`server_folder`), removed afterwards."""
    with server_folder(prefix) as base:
        server = start_pitr_server(base)
        try:
            yield server
        finally:
            stop_pitr_server(server)
