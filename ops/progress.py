"""Feedback on long steps: the library says what it is doing, the caller decides how it shows.

A long library step runs inside `step(description, total)` and advances it as it goes; a
line the operator needs whatever the output (a run waiting for another's lock) is a
`notice`. Both go to the reporter of the current context: by default none, so a library
call prints nothing. `dbops` installs one per run (ops.cli._progress): a rich progress display
on stderr when stderr is a terminal, notices alone when it is not (cron gets no bars).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class Reporter(Protocol):
    def notice(self, text: str) -> None: ...

    def start(self, description: str, total: int | None) -> object: ...

    def update(self, task: object, done: int, total: int | None, description: str) -> None: ...

    def finish(self, task: object) -> None: ...


_reporter: ContextVar[Reporter | None] = ContextVar("ops_progress_reporter", default=None)


class Step:
    """A running step: `advance` it by units done, or `show` where it is and what it does."""

    def __init__(self, reporter: Reporter | None, description: str, total: int | None) -> None:
        self._reporter = reporter
        self.description, self.total, self.done = description, total, 0
        self._task = reporter.start(description, total) if reporter else None

    def advance(self, units: int = 1) -> None:
        self.show(self.done + units, self.total, self.description)

    def show(self, done: int, total: int | None, description: str) -> None:
        self.done, self.total, self.description = done, total, description
        if self._reporter is not None:
            self._reporter.update(self._task, done, total, description)

    def _finish(self) -> None:
        if self._reporter is not None:
            self._reporter.finish(self._task)


@contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Steps and notices of the block go to `reporter`."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


def notice(text: str) -> None:
    reporter = _reporter.get()
    if reporter is not None:
        reporter.notice(text)


@contextmanager
def step(description: str, total: int | None = None) -> Iterator[Step]:
    """A long step of `total` units (None: a spinner) for the duration of the block."""
    running = Step(_reporter.get(), description, total)
    try:
        yield running
    finally:
        running._finish()
