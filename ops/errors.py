"""Typed errors: each carries the exit code of the design's table and a hint naming the next step."""

from __future__ import annotations

from enum import IntEnum


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
    """Base of every error dbops reports; `str()` is the one-line message."""

    exit_code: ExitCode = ExitCode.FAILED
    label = "Error"  # how the message line starts

    def __init__(self, message: str, hint: str | None = None, *, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail


class ConfigError(DbopsError):
    """Bad flags, configuration or files: nothing was changed."""

    exit_code = ExitCode.USAGE


class ConnectError(DbopsError):
    """The server could not be reached or refused the credentials."""

    exit_code = ExitCode.CONNECT


class OperationFailed(DbopsError):
    """The operation failed and its transaction was rolled back."""

    exit_code = ExitCode.FAILED


class Findings(DbopsError):
    """The run found problems (a check, a lint rule, a verification): nothing is broken by it."""

    exit_code = ExitCode.FINDINGS


class Busy(DbopsError):
    """Another run holds the job's advisory lock."""

    exit_code = ExitCode.BUSY


class Partial(DbopsError):
    """The time budget ran out with work left: not a failure, the next run continues."""

    exit_code = ExitCode.PARTIAL
    label = "Note"


class Corruption(DbopsError):
    """A checksum or an amcheck verification failed."""

    exit_code = ExitCode.CORRUPTION


def exit_code_for(exc: BaseException) -> ExitCode:
    """The documented exit code of a run that ended with `exc`: the one mapping for the CLI and cron.

    A dbops error carries its own; a lost or refused connection is 3; any other server error,
    an interrupt or anything unexpected means the transaction was rolled back: 4.
    """
    if isinstance(exc, DbopsError):
        return exc.exit_code
    import psycopg  # here, so that `dbops --help` does not load the driver

    if isinstance(exc, psycopg.OperationalError):
        return ExitCode.CONNECT
    return ExitCode.FAILED
