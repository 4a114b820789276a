"""The shared backoff, stopwatch and server-version helpers."""

from __future__ import annotations

import time

from ops.db import server_major
from ops.retry import backoff_delay, elapsed_ms, elapsed_s


def test_backoff_doubles_from_first_up_to_the_cap() -> None:
    assert [backoff_delay(n, first=0.05, cap=0.5) for n in range(6)] == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5]
    assert [backoff_delay(n, first=0.5) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]


def test_elapsed_counts_from_a_monotonic_reading() -> None:
    started = time.monotonic() - 1.5
    assert 1.5 <= elapsed_s(started) < 60 and 1500 <= elapsed_ms(started) < 60_000
    assert isinstance(elapsed_ms(started), int)


def test_server_major() -> None:
    assert server_major(180001) == 18 and server_major(140000) == 14 and server_major(90624) == 9
