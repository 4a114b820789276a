"""`dbops verify`: every migration up, down and up again on a scratch database.

The schema after a rollback must equal the schema before the migration, and re-applying
must give the schema of the first apply. A migration that fails on a fresh database (for
example one that uses a table a later migration creates) is reported with its file, line
and the PostgreSQL error.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from psycopg import sql

from ops import progress
from ops.config import Settings
from ops.db import Conn, connect, with_database
from ops.errors import OperationFailed
from ops.failpoints import failpoint
from ops.locks import SCRATCH_NAMESPACE
from ops.migrations import catalog, history
from ops.migrations.engine import apply_file, rollback_file
from ops.migrations.files import MigrationFile, read_migration_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyStep:
    id: str
    ok: bool
    problem: str = ""
    apply_only: bool = False  # no rollback file: applied once, not rolled back


@dataclass(frozen=True)
class VerifyReport:
    steps: tuple[VerifyStep, ...]
    differences: int

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


@contextmanager
def scratch_database(conninfo: str, prefix: str = "dbops_scratch") -> Iterator[str]:
    """A new empty database on the same server, dropped afterwards; yields its conninfo.

    Its name carries a key of an advisory lock this run holds for the database's life, so the
    next run with the same prefix tells a leftover of a killed run (lock free) from a scratch
    database in use, and drops the leftover.
    """
    key = secrets.randbelow(2**31 - 1) + 1
    name = f"{prefix}_{os.getpid()}_{key}"
    with connect(conninfo) as owner:
        owner.execute("select pg_advisory_lock(%s, %s)", (SCRATCH_NAMESPACE, key))
        reclaim_scratch_databases(owner, prefix)
        owner.execute(sql.SQL("create database {} template template0").format(sql.Identifier(name)))
        try:
            failpoint("scratch.created")
            yield with_database(conninfo, name)
        finally:
            owner.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def reclaim_scratch_databases(conn: Conn, prefix: str) -> list[str]:
    """Drop the `prefix` scratch databases whose run ended (their lock is free); their names."""
    pattern = re.compile(rf"^{re.escape(prefix)}_\d+_(\d+)$")
    dropped = []
    for (name,) in conn.execute("select datname from pg_database order by 1").fetchall():
        match = pattern.match(name)
        if not match:
            continue
        key = int(match.group(1))
        row = conn.execute("select pg_try_advisory_lock(%s, %s)", (SCRATCH_NAMESPACE, key)).fetchone()
        if not (row and row[0]):
            continue  # its run is alive
        try:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
            dropped.append(name)
            log.warning("dropped scratch database %s, left by a run that ended", name)
        finally:
            conn.execute("select pg_advisory_unlock(%s, %s)", (SCRATCH_NAMESPACE, key))
    return dropped


def verify(conninfo: str, settings: Settings) -> VerifyReport:
    files = read_migration_dir(settings.migrations_dir)
    steps: list[VerifyStep] = []
    total = 0
    with scratch_database(conninfo, "dbops_verify") as scratch, connect(scratch) as conn:
        history.ensure_history(conn)
        before = catalog.snapshot(conn)
        with progress.step("migrations up, down and up again", len(files)) as verifying:
            for m in files:
                if m.has_rollback:
                    problem, differences, before = _up_down_up(conn, m, settings, before)
                else:
                    problem, differences, before = _up_only(conn, m, settings, before)
                steps.append(VerifyStep(m.id, not problem, problem, apply_only=not m.has_rollback))
                total += differences
                verifying.advance()
                if problem:
                    break  # later steps would run on a schema the history never produces
    return VerifyReport(tuple(steps), total)


def _up_only(
    conn: Conn, m: MigrationFile, settings: Settings, before: catalog.Snapshot
) -> tuple[str, int, catalog.Snapshot]:
    """An apply-only migration (no rollback file), and the first step of `_up_down_up`: it must
    apply on the fresh history."""
    try:
        apply_file(conn, m, settings)
    except OperationFailed as exc:
        return f"fails on a fresh database: {exc.message}", 0, before
    return "", 0, catalog.snapshot(conn)


def _up_down_up(
    conn: Conn, m: MigrationFile, settings: Settings, before: catalog.Snapshot
) -> tuple[str, int, catalog.Snapshot]:
    """(problem or "", number of differences, snapshot after the last apply)."""
    problem, _, first = _up_only(conn, m, settings, before)
    if problem:
        return problem, 0, first
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
