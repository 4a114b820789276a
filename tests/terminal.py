"""A real `dbops` process whose stdout and/or stderr is a terminal (a pseudo-terminal of a
given width), as an operator at a shell sees it; the other stream stays a pipe, as cron has
it. What the terminal shows is returned with its colour codes removed."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from dataclasses import dataclass

from tests.processes import HANG_GUARD_S, clean_env
from tests.server import ROOT

_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


@dataclass(frozen=True)
class Shown:
    exit_code: int
    stdout: str  # the terminal's text when stdout was the terminal, else the piped bytes
    stderr: str


def _drain(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: every process holding the terminal has closed it
            return
        if not chunk:
            return
        into.append(chunk)


def plain(text: str) -> str:
    """Terminal output without colour, cursor and carriage-return codes."""
    return _ESCAPE.sub("", text)


def run_on_terminal(
    *args: str, url: str | None = None, columns: int = 80, stdout_tty: bool = True, stderr_tty: bool = False,
    env: dict[str, str] | None = None, raw: bool = False,
) -> Shown:  # fmt: skip
    """`python -m ops [--database-url URL] ARGS` with the chosen streams on a terminal `columns`
    wide; `raw`: the terminal's bytes as they came, escape codes included."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    shown: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(master, shown), daemon=True)
    reader.start()
    argv = [sys.executable, "-m", "ops", *(["--database-url", url] if url else []), *args]
    full_env = clean_env(TERM="xterm-256color", COLUMNS=str(columns), **(env or {}))
    try:
        proc = subprocess.run(
            argv, cwd=ROOT, env=full_env, stdin=subprocess.DEVNULL,
            stdout=slave if stdout_tty else subprocess.PIPE, stderr=slave if stderr_tty else subprocess.PIPE,
            timeout=HANG_GUARD_S, check=False,
        )  # fmt: skip
    finally:
        os.close(slave)
        reader.join(HANG_GUARD_S)
        os.close(master)
    received = b"".join(shown).decode("utf-8", "replace")
    on_terminal = received if raw else plain(received)
    return Shown(
        proc.returncode,
        on_terminal if stdout_tty else proc.stdout.decode(),
        on_terminal if stderr_tty else proc.stderr.decode(),
    )
