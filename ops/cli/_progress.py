"""How a run's long steps show (ops.progress): rich progress on a terminal, nothing when piped.

Only stderr carries it, so stdout stays the result (a table or JSON). On a terminal, each
step is a line with a spinner or a bar while it runs and is gone when it ends; notices
(a run waiting for another's lock) print above it. Not on a terminal, with --json too, a
notice is one plain line on stderr and steps show nothing: cron gets no bars. -q shows neither.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ops.cli._context import printable
from ops.progress import Reporter


def progress_display() -> Any:
    """The rich Progress every long step shows in: on stderr, gone when it ends."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),  # a table's name is no markup
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        redirect_stdout=False,  # stdout is the result, never part of the display
    )


class TerminalReporter:
    """A transient rich Progress on stderr, live only while a step runs."""

    def __init__(self) -> None:
        self._progress: Any = None

    def notice(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(printable(text), markup=False, highlight=False)
        else:
            click.echo(text, err=True)

    def start(self, description: str, total: int | None) -> object:
        if self._progress is None:
            self._progress = progress_display()
            self._progress.start()
        return self._progress.add_task(printable(description), total=total)

    def update(self, task: object, done: int, total: int | None, description: str) -> None:
        if self._progress is not None:
            self._progress.update(task, completed=done, total=total, description=printable(description))

    def finish(self, task: object) -> None:
        if self._progress is None:
            return
        self._progress.remove_task(task)
        if not self._progress.tasks:
            self._progress.stop()
            self._progress = None


class NoticesOnly:
    """Not on a terminal: a notice is a plain stderr line; steps show nothing."""

    def notice(self, text: str) -> None:
        click.echo(text, err=True)

    def start(self, description: str, total: int | None) -> object:
        return None

    def update(self, task: object, done: int, total: int | None, description: str) -> None:
        return None

    def finish(self, task: object) -> None:
        return None


def reporter_for(json_output: bool, verbosity: int) -> Reporter | None:
    if verbosity < 0:
        return None
    if not json_output and sys.stderr.isatty():
        return TerminalReporter()
    return NoticesOnly()
