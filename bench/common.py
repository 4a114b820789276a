"""Helpers shared by the benchmarks: the server, scratch databases, timing."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ops import embedded
from ops.db import connect
from ops.migrations import scratch_database

ROOT = Path(__file__).resolve().parent.parent


def server_url() -> str:
    """BENCH_DATABASE_URL, else the embedded server under .dbops/bench."""
    return os.environ.get("BENCH_DATABASE_URL") or embedded.ensure_running(ROOT / ".dbops" / "bench")


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    with scratch_database(url, "dbops_bench") as conninfo:
        yield conninfo


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(cmd: list[str], **kwargs: object) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]


def report(name: str, ratio: float, detail: str = "") -> None:
    print(f"{name}: {ratio:.2f}" + (f"  ({detail})" if detail else ""), flush=True)


__all__ = ["ROOT", "connect", "fresh_database", "median_seconds", "report", "run", "server_url"]
