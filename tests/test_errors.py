"""The one exception -> exit-code mapping that the CLI and the cron wrapper share."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pgerrors

from ops.errors import (
    Busy,
    ConfigError,
    ConnectError,
    Corruption,
    ExitCode,
    OperationFailed,
    Partial,
    exit_code_for,
)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ConfigError("bad flag"), ExitCode.USAGE),
        (ConnectError("refused"), ExitCode.CONNECT),
        (OperationFailed("rolled back"), ExitCode.FAILED),
        (Busy("held"), ExitCode.BUSY),
        (Partial("backlog"), ExitCode.PARTIAL),
        (Corruption("checksum"), ExitCode.CORRUPTION),
        (psycopg.OperationalError("server closed the connection"), ExitCode.CONNECT),
        (pgerrors.UniqueViolation("duplicate key"), ExitCode.FAILED),
        (KeyboardInterrupt(), ExitCode.FAILED),
        (RuntimeError("unexpected"), ExitCode.FAILED),
    ],
)
def test_exit_code_for(exc: BaseException, code: ExitCode) -> None:
    assert exit_code_for(exc) is code


def test_a_subclass_keeps_its_parents_exit_code_and_label() -> None:
    from ops.queries import InvalidInput, NotFound

    assert exit_code_for(InvalidInput("bad")) is ExitCode.USAGE
    assert exit_code_for(NotFound("gone")) is ExitCode.FAILED
    labels = [e.label for e in (Partial("late"), Busy("held"), InvalidInput("bad"))]
    assert labels == ["Note", "Error", "Error"]
