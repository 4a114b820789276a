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


class Busy(DbopsError):
    """Another run holds the job's advisory lock."""

    exit_code = ExitCode.BUSY


class Partial(DbopsError):
    """The time budget ran out with work left."""

    exit_code = ExitCode.PARTIAL


class Corruption(DbopsError):
    """A checksum or an amcheck verification failed."""

    exit_code = ExitCode.CORRUPTION
