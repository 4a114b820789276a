"""Running the statements of a SQL file: errors that name file and line, lock_timeout, retries."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql

from ops.config import Settings
from ops.db import Conn, pg_error_message
from ops.errors import OperationFailed
from ops.retry import backoff_delay
from ops.sqltext import Statement


class SQLFileError(OperationFailed):
    """A statement of a file failed and its transaction was rolled back; names file and line."""

    next_step: ClassVar[str] = "fix the file and run the command again"

    def __init__(self, path: str, line: int, pg_message: str):
        super().__init__(f"{path}:{line}: {pg_message}", self.next_step)
        self.path = path
        self.line = line
        self.pg_message = pg_message


def run_statements(
    conn: Conn,
    statements: Sequence[Statement],
    path: str,
    error: type[SQLFileError] = SQLFileError,
) -> None:
    """Execute each statement; a failure becomes `error` at the failing line.

    LockNotAvailable passes through untouched, for `with_lock_retries`.
    """
    for st in statements:
        try:
            conn.execute((st.sql + ";").encode())  # as written: the server names the ";" in errors
        except pgerrors.LockNotAvailable:
            raise
        except psycopg.Error as exc:
            line = st.line
            position = exc.diag.statement_position
            if position and position.isdigit():
                line = st.line + st.sql[: int(position) - 1].count("\n")
            failure = error(path, line, pg_error_message(exc))
            failure.hint = _privilege_hint(exc) or failure.hint
            raise failure from exc


def _privilege_hint(exc: psycopg.Error) -> str | None:
    """A file that is right but needs more privilege: say who can do the step, not "fix the file"."""
    if not isinstance(exc, pgerrors.InsufficientPrivilege):
        return None
    extension = re.search(r'permission denied to create extension "([^"]+)"', exc.diag.message_primary or "")
    if extension:
        name = extension.group(1)
        return (
            f"ask a superuser to run `create extension {name}` in this database, then run the command again"
        )
    return "grant the missing privilege (or connect as the schema owner), then run the command again"


def set_lock_timeout(conn: Conn, ms: int, *, local: bool) -> None:
    stmt = sql.SQL("set local lock_timeout = {}") if local else sql.SQL("set lock_timeout = {}")
    conn.execute(stmt.format(sql.Literal(f"{ms}ms")))


def with_lock_retries(settings: Settings, label: str, attempt: Callable[[], None]) -> None:
    """Run `attempt`; on LockNotAvailable wait (0.5 s, doubling) and retry `lock_retries` times."""
    for tries in range(settings.lock_retries + 1):
        try:
            attempt()
            return
        except pgerrors.LockNotAvailable as exc:
            if tries == settings.lock_retries:
                raise OperationFailed(
                    f"{label}: no lock within {settings.lock_timeout_ms} ms after "
                    f"{tries + 1} tries ({pg_error_message(exc)})",
                    "retry when the blocking session ends (see pg_stat_activity), "
                    "or raise --lock-timeout / DBOPS_LOCK_TIMEOUT",
                ) from exc
            time.sleep(backoff_delay(tries, first=0.5))
