"""`dbops verify`: every migration up, down and up again on a scratch database.

The schema after a rollback must equal the schema before the migration, and re-applying
must give the schema of the first apply. A migration that fails on a fresh database (for
example one that uses a table a later migration creates) is reported with its file, line
and the PostgreSQL error.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from psycopg import sql

from ops import catalog, history
from ops.config import Settings
from ops.db import connect, with_database
from ops.errors import ConfigError, OperationFailed
from ops.migrate import apply_file, rollback_file
from ops.migration_files import read_migration_dir


@dataclass(frozen=True)
class VerifyStep:
    id: str
    ok: bool
    problem: str = ""


@dataclass(frozen=True)
class VerifyReport:
    steps: tuple[VerifyStep, ...]
    differences: int

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


@contextmanager
def scratch_database(conninfo: str, prefix: str = "dbops_scratch") -> Iterator[str]:
    """A new empty database on the same server, dropped afterwards; yields its conninfo."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with connect(conninfo) as admin:
        admin.execute(sql.SQL("create database {} template template0").format(sql.Identifier(name)))
    try:
        yield with_database(conninfo, name)
    finally:
        with connect(conninfo) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def verify(conninfo: str, settings: Settings) -> VerifyReport:
    files = read_migration_dir(settings.migrations_dir)
    for m in files:
        if not m.has_rollback:
            raise ConfigError(f"{m.path.name} has no rollback file", "write it, then run `dbops verify`")
    steps: list[VerifyStep] = []
    differences = 0
    with scratch_database(conninfo, "dbops_verify") as scratch, connect(scratch) as conn:
        history.ensure_history(conn)
        before = catalog.snapshot(conn)
        for m in files:
            try:
                apply_file(conn, m, settings)
                first = catalog.snapshot(conn)
                rollback_file(conn, m, settings)
                undone = catalog.diff(before, catalog.snapshot(conn))
                apply_file(conn, m, settings)
                again = catalog.snapshot(conn)
            except OperationFailed as exc:
                steps.append(VerifyStep(m.id, False, f"fails on a fresh database: {exc.message}"))
                break
            redone = catalog.diff(first, again)
            differences += len(undone) + len(redone)
            if undone:
                problem = "rollback does not restore the schema: " + undone[0].describe(
                    "before the migration", "after its rollback"
                )
            elif redone:
                problem = "applying again after the rollback differs: " + redone[0].describe(
                    "first apply", "second apply"
                )
            else:
                problem = ""
            steps.append(VerifyStep(m.id, not problem, problem))
            before = again
    return VerifyReport(tuple(steps), differences)
