"""Typed errors: each carries the exit code of the design's table and a hint naming the next step."""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1
    USAGE = 2
    CONNECT = 3
    FAILED = 4
    BUSY = 5
    PARTIAL = 6
    CORRUPTION = 7


class DbopsError(Exception):
    """Base of every error dbops reports; `str()` is the one-line message.

    A subclass names its exit code (and its line's label, where not `Error`) in its header:
    `class Busy(DbopsError, exit_code=ExitCode.BUSY)`; without one it is a failure (4).
    """

    exit_code: ClassVar[ExitCode] = ExitCode.FAILED
    label: ClassVar[str] = "Error"  # how the message line starts

    def __init_subclass__(
        cls, *, exit_code: ExitCode | None = None, label: str | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if exit_code is not None:
            cls.exit_code = exit_code
        if label is not None:
            cls.label = label

    def __init__(self, message: str, hint: str | None = None, *, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail


class ConfigError(DbopsError, exit_code=ExitCode.USAGE):
    """Bad flags, configuration or files: nothing was changed."""


class ConnectError(DbopsError, exit_code=ExitCode.CONNECT):
    """The server could not be reached or refused the credentials."""


class OperationFailed(DbopsError):
    """The operation failed and its transaction was rolled back."""


class Findings(DbopsError, exit_code=ExitCode.FINDINGS):
    """The run found problems (a check, a lint rule, a verification): nothing is broken by it."""


class Busy(DbopsError, exit_code=ExitCode.BUSY):
    """Another run holds the job's advisory lock."""


class Partial(DbopsError, exit_code=ExitCode.PARTIAL, label="Note"):
    """The time budget ran out with work left: not a failure, the next run continues."""


class Corruption(DbopsError, exit_code=ExitCode.CORRUPTION):
    """A checksum or an amcheck verification failed."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is (a KeyboardInterrupt: no `except Exception` swallows it)."""


def exit_code_for(exc: BaseException) -> ExitCode:
    """The documented exit code of a run that ended with `exc`: the one mapping for the CLI and cron.

    A dbops error carries its own; a lost or refused connection is 3; any other server error,
    an interrupt or anything unexpected means the transaction was rolled back: 4.
    """
    if isinstance(exc, DbopsError):
        return exc.exit_code

    if connection_lost(exc):
        return ExitCode.CONNECT
    return ExitCode.FAILED


def connection_lost(exc: BaseException) -> bool:
    """A connection that failed or broke, not a statement the server refused on a live one.

    psycopg files lock timeouts (55P03) and cancelled statements (57014) under
    OperationalError too: those rolled back a transaction, and the connection lives on.
    """
    import psycopg

    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")
