"""Waiting between tries, and how long something took: the one backoff and the one stopwatch."""

from __future__ import annotations

import math
import time


def backoff_delay(attempt: int, first: float, cap: float = math.inf) -> float:
    """Seconds to wait before try `attempt + 1`: `first`, doubling with each try, at most `cap`."""
    return min(cap, first * 2.0**attempt)


def elapsed_s(started: float) -> float:
    """Seconds since `started` (a `time.monotonic()` reading), to the millisecond."""
    return round(time.monotonic() - started, 3)


def elapsed_ms(started: float) -> int:
    """Whole milliseconds since `started` (a `time.monotonic()` reading)."""
    return int((time.monotonic() - started) * 1000)
