"""Feedback on long steps: the library says what it is doing, the caller decides how it shows.

A long library step runs inside `step(description, total)` and advances it as it goes; a
line the operator needs whatever the output (a run waiting for another's lock) is a
`notice`. Both go to the reporter of the current context: by default none, so a library
call prints nothing. `dbops` installs one per run (ops.cli._progress): a rich progress display
on stderr when stderr is a terminal, notices alone when it is not (cron gets no bars).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

Advance = Callable[[int], None]  # how many more units of the step are done


class Reporter(Protocol):
    def notice(self, text: str) -> None: ...

    def start(self, description: str, total: int | None) -> object: ...

    def advance(self, task: object, done: int) -> None: ...

    def finish(self, task: object) -> None: ...


_reporter: ContextVar[Reporter | None] = ContextVar("ops_progress_reporter", default=None)


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
def step(description: str, total: int | None = None) -> Iterator[Advance]:
    """A long step (`total` units, or None: a spinner); yields the function that advances it."""
    reporter = _reporter.get()
    if reporter is None:
        yield lambda done: None
        return
    task = reporter.start(description, total)
    try:
        yield lambda done: reporter.advance(task, done)
    finally:
        reporter.finish(task)
