"""Real `dbops` processes for kill and race tests, stopped at named failpoints.

A test names the point where the process must stop (`ops.failpoints`: `DBOPS_FAILPOINTS`,
`name` or `name=N` for the N-th hit). The process writes `failpoint: name` to stderr and
stops itself (SIGSTOP); `stopped_at()` reads that line, then the test kills it there
(SIGKILL) or lets it go on (SIGCONT). The moment is chosen by the code's own progress, never
by a timer, so a loaded machine changes how long a test takes, not what it tests.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.server import ROOT, TEST_SERVER_HOME

# a guard against a hang, not a measurement: a process that neither stops nor ends
HANG_GUARD_S = 300


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the caller's dbops, libpq and URL settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBOPS_", "PG")) and k != "DATABASE_URL"}
    # the project's .dbops/ (caches) stays out of the checkout: under the test server's folder
    return {**env, "DBOPS_HOME": str(TEST_SERVER_HOME / "home"), **extra}


@dataclass
class Dbops:
    """One `python -m ops` process with its stdout and stderr piped."""

    proc: subprocess.Popen[str]
    stderr_lines: list[str] = field(default_factory=list)
    _lines: queue.Queue[str] = field(default_factory=queue.Queue)
    _stdout: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # threads drain both pipes: a full pipe would block the process before its failpoint,
        # and a line read ahead into a buffer would hide that the process stopped
        self._readers = (
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        )
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        self._stdout.extend(self.proc.stdout)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._lines.put(line)
        self._lines.put("")

    @classmethod
    def start(cls, url: str, *args: str, failpoints: str = "", cwd: str | None = None) -> Dbops:
        env = clean_env(DBOPS_FAILPOINTS=failpoints) if failpoints else clean_env()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ops", "--database-url", url, *args],
            cwd=cwd or ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        return cls(proc)

    def stopped_at(self) -> str | None:
        """Wait until the process stops at a failpoint (its name) or ends (None)."""
        while True:
            line = self._lines.get(timeout=HANG_GUARD_S)
            if not line:
                return None
            if line.startswith("failpoint: "):
                self._wait_until_stopped()
                return line.removeprefix("failpoint: ").strip()
            self.stderr_lines.append(line)

    def line_with(self, text: str) -> str:
        """Wait for the stderr line that contains `text` (it and the lines before it are kept)."""
        while True:
            line = self._lines.get(timeout=HANG_GUARD_S)
            assert line, f"the process ended without writing {text!r}: {''.join(self.stderr_lines)}"
            self.stderr_lines.append(line)
            if text in line:
                return line

    def _wait_until_stopped(self) -> None:
        """The line comes just before the process stops itself: a SIGCONT sent in between would
        be lost and leave it stopped for good, so wait for the kernel to report it stopped."""
        stat = Path(f"/proc/{self.proc.pid}/stat")
        deadline = time.monotonic() + HANG_GUARD_S
        while stat.read_text().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
            assert time.monotonic() < deadline, "the process wrote its failpoint but never stopped"
            time.sleep(0.001)

    def kill(self) -> None:
        """SIGKILL, also of a stopped process; reaps it."""
        self.proc.kill()
        self._reap()

    def _reap(self) -> None:
        self.proc.wait(timeout=HANG_GUARD_S)
        for reader in self._readers:
            reader.join(HANG_GUARD_S)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def ended(self) -> tuple[int, str, str]:
        """After stopped_at() returned None (the process ended): (exit code, stdout, stderr)."""
        self._reap()
        return self.proc.returncode, "".join(self._stdout), "".join(self.stderr_lines)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def finish(self) -> tuple[int, str, str]:
        """Wait for the end; returns (exit code, stdout, the rest of stderr)."""
        self._reap()
        while (line := self._lines.get(timeout=HANG_GUARD_S)) != "":
            self.stderr_lines.append(line)
        return self.proc.returncode, "".join(self._stdout), "".join(self.stderr_lines)
