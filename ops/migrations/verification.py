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

from ops.config import Settings
from ops.db import Conn, connect, with_database
from ops.errors import ConfigError, OperationFailed
from ops.migrations import catalog, history
from ops.migrations.engine import apply_file, rollback_file
from ops.migrations.files import MigrationFile, read_migration_dir


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
    total = 0
    with scratch_database(conninfo, "dbops_verify") as scratch, connect(scratch) as conn:
        history.ensure_history(conn)
        before = catalog.snapshot(conn)
        for m in files:
            problem, differences, before = _up_down_up(conn, m, settings, before)
            steps.append(VerifyStep(m.id, not problem, problem))
            total += differences
            if problem:
                break  # later steps would run on a schema the history never produces
    return VerifyReport(tuple(steps), total)


def _up_down_up(
    conn: Conn, m: MigrationFile, settings: Settings, before: catalog.Snapshot
) -> tuple[str, int, catalog.Snapshot]:
    """(problem or "", number of differences, snapshot after the last apply)."""
    try:
        apply_file(conn, m, settings)
    except OperationFailed as exc:
        return f"fails on a fresh database: {exc.message}", 0, before
    first = catalog.snapshot(conn)
    try:
        rollback_file(conn, m, settings)
    except OperationFailed as exc:
        return f"rollback fails: {exc.message}", 0, first
    undone = catalog.diff(before, catalog.snapshot(conn))
    if undone:
        detail = undone[0].describe("before the migration", "after its rollback")
        return f"rollback does not restore the schema: {detail}", len(undone), first
    try:
        apply_file(conn, m, settings)
    except OperationFailed as exc:
        return f"fails when applied again after its rollback: {exc.message}", 0, first
    again = catalog.snapshot(conn)
    redone = catalog.diff(first, again)
    if redone:
        detail = redone[0].describe("first apply", "second apply")
        return f"applying again after the rollback differs: {detail}", len(redone), again
    return "", 0, again
