"""A real PgBouncer (Debian's package) in transaction mode, pool of 2, in front of the test server.

It refuses to run as root, so it runs as the owner of the server's data directory (the
embedded server's system user), listens on 127.0.0.1 only and reaches the server through
its Unix socket. CI installs the package (.ci/run); elsewhere a missing binary skips.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.server import TestServer

POOL_SIZE = 2


@dataclass(frozen=True)
class Pooler:
    port: int
    log: Path

    def url(self, dbname: str, user: str = "postgres", password: str | None = None) -> str:
        return make_conninfo(
            "", host="127.0.0.1", port=self.port, dbname=dbname, user=user, password=password
        )


def pgbouncer_binary() -> str:
    debian = Path("/usr/sbin/pgbouncer")  # not on a non-root PATH
    found = shutil.which("pgbouncer") or (str(debian) if debian.exists() else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is not installed: .ci/run installs Debian's package")
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer); CI runs these tests")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def pgbouncer(server: TestServer, users: dict[str, str]) -> Iterator[Pooler]:
    """PgBouncer for every database of `server` (Unix socket only), `users` name -> password."""
    binary = pgbouncer_binary()
    if not server.host.startswith("/"):
        pytest.skip("the PgBouncer tests need the embedded server (a Unix socket)")
    owner = Path(server.host).stat()
    workdir = Path(tempfile.mkdtemp(prefix="dbops-pgbouncer-"))
    port = _free_port()
    auth = "".join(f'"{name}" "{password}"\n' for name, password in users.items())
    (workdir / "users.txt").write_text(auth)
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.host} port={server.port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {workdir / 'users.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {POOL_SIZE}\nmax_client_conn = 200\n"
        f"logfile = {workdir / 'pgbouncer.log'}\npidfile = {workdir / 'pgbouncer.pid'}\n"
        "ignore_startup_parameters = extra_float_digits\n"
    )
    for path in (workdir, *workdir.iterdir()):
        os.chown(path, owner.st_uid, owner.st_gid)
    user = owner.st_uid if os.geteuid() == 0 else None
    proc = subprocess.Popen(
        [binary, str(workdir / "pgbouncer.ini")],
        user=user,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    pooler = Pooler(port, workdir / "pgbouncer.log")
    try:
        _wait_ready(proc, pooler)
        yield pooler
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(proc: subprocess.Popen[bytes], pooler: Pooler) -> None:
    """Until PgBouncer answers on its port (it exits at once on a bad config)."""
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            log = pooler.log.read_text() if pooler.log.exists() else ""
            raise RuntimeError(f"pgbouncer exited {proc.returncode}: {log[-2000:]}")
        try:
            psycopg.connect(pooler.url("postgres"), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
