"""The migration engine: apply, roll back, mark and report, with dbops' guarantees.

- one advisory lock per run (ops.locks), released by the server if the process dies;
- a transactional migration's effects and its history rows commit in one transaction;
- `lock_timeout` on every migration, retried with backoff on LockNotAvailable;
- content checksums: an applied file whose SQL changed is refused;
- non-transactional migrations run statement by statement and are written re-runnable;
  an invalid index left by a failed CREATE INDEX CONCURRENTLY is dropped before a retry.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

import psycopg
from pglast import ast
from psycopg import errors as pgerrors
from psycopg import sql

from ops import sqlfiles
from ops.config import Settings
from ops.db import Conn, pg_error_message
from ops.errors import ConfigError, OperationFailed
from ops.failpoints import failpoint
from ops.locks import JobFamily, job_lock
from ops.migrations import history
from ops.migrations.files import MigrationFile, check_all_or_nothing, chosen_note, find, read_migration_dir
from ops.migrations.runner import SQLFileError, run_statements, set_lock_timeout, with_lock_retries
from ops.retry import elapsed_ms
from ops.sqltext import Statement

State = Literal["applied", "pending", "edited", "missing-file"]
Direction = Literal["apply", "rollback", "mark", "unmark", "rehash"]


class MigrationSQLError(SQLFileError):
    """A statement of a migration file failed; names the file and line."""

    next_step = "fix the file and run `dbops migrate` again; migrations before it stay applied"


@dataclass(frozen=True)
class MigrationStatus:
    id: str
    state: State
    applied_at: str | None
    transactional: bool | None
    note: str


@dataclass(frozen=True)
class StatusReport:
    migrations: tuple[MigrationStatus, ...]
    head: str | None

    @property
    def needs_attention(self) -> bool:
        return any(m.state != "applied" for m in self.migrations)

    def count(self, state: str) -> int:
        return sum(1 for m in self.migrations if m.state == state)


@dataclass(frozen=True)
class StepReport:
    id: str
    direction: Direction
    executed: bool
    duration_ms: int
    sql: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class RunReport:
    direction: Direction
    dry_run: bool
    steps: tuple[StepReport, ...]
    notes: tuple[str, ...] = ()


# -- status -------------------------------------------------------------------------------


def status(conn: Conn, settings: Settings) -> StatusReport:
    files = read_migration_dir(settings.migrations_dir)
    return status_of(files, history.read_applied(conn))


def status_of(files: Sequence[MigrationFile], applied: dict[str, history.AppliedMigration]) -> StatusReport:
    rows: list[MigrationStatus] = []
    head = None
    for f in files:
        a = applied.get(f.id)
        if a is None:
            rows.append(MigrationStatus(f.id, "pending", None, f.transactional, ""))
            continue
        head = f.id
        stamp = a.applied_at.isoformat(sep=" ", timespec="seconds")
        if a.sha256 is None:
            note = f"no checksum recorded: `dbops mark --rehash {f.id}` records one"
            rows.append(MigrationStatus(f.id, "applied", stamp, f.transactional, note))
        elif a.sha256 != f.sha256 and not f.matches_recorded(a.normalized_sha256):
            note = f"SQL changed since applied: restore the file or `dbops mark --rehash {f.id}`"
            rows.append(MigrationStatus(f.id, "edited", stamp, f.transactional, note))
        elif a.sha256 != f.sha256:
            rows.append(
                MigrationStatus(
                    f.id, "applied", stamp, f.transactional, "comments or whitespace changed since applied"
                )
            )
        else:
            rows.append(MigrationStatus(f.id, "applied", stamp, f.transactional, ""))
    known = {f.id for f in files}
    for mid, a in applied.items():
        if mid not in known:
            stamp = a.applied_at.isoformat(sep=" ", timespec="seconds")
            rows.append(
                MigrationStatus(
                    mid,
                    "missing-file",
                    stamp,
                    None,
                    "applied but its file is gone: restore it from version control",
                )
            )
    return StatusReport(tuple(rows), head)


def _refuse_edited(report: StatusReport) -> None:
    for m in report.migrations:
        if m.state == "edited":
            raise ConfigError(
                f"migration {m.id} was edited after it was applied",
                "restore the file from version control, "
                f"or accept the edit with `dbops mark --rehash {m.id}`",
            )


# -- executing SQL ----------------------------------------------------------------------


def _execute(conn: Conn, statements: Sequence[Statement], path: str) -> None:
    run_statements(conn, statements, path, MigrationSQLError)


def _concurrent_index_name(st: Statement) -> str | None:
    """The (schema-qualified, quoted) name a CREATE INDEX CONCURRENTLY builds, as the parser reads it."""
    node = st.node
    if not isinstance(node, ast.IndexStmt) or not node.concurrent or not node.idxname:
        return None
    schema = node.relation.schemaname if node.relation is not None else None
    parts = [p for p in (schema, node.idxname) if p]
    return ".".join(sql.Identifier(p).as_string() for p in parts)


def _drop_invalid_indexes(conn: Conn, statements: Sequence[Statement]) -> list[str]:
    dropped = []
    for st in statements:
        qualified = _concurrent_index_name(st)
        if qualified is None:
            continue
        row = conn.execute(sqlfiles.query(__name__, "invalid_index"), {"name": qualified}).fetchone()
        if row:
            conn.execute(
                sql.SQL("drop index concurrently if exists {}").format(
                    sql.SQL(".").join(sql.Identifier(p) for p in row[0].split("."))
                )
            )
            dropped.append(row[0])
    return dropped


def apply_file(conn: Conn, m: MigrationFile, settings: Settings) -> StepReport:
    return _run_file(conn, m, settings, "apply")


def rollback_file(conn: Conn, m: MigrationFile, settings: Settings) -> StepReport:
    return _run_file(conn, m, settings, "rollback")


def _run_file(conn: Conn, m: MigrationFile, settings: Settings, direction: Direction) -> StepReport:
    forward = direction == "apply"
    file, statements = m.script(direction)
    path = settings.display_path(file)
    started = time.monotonic()

    def record() -> None:
        elapsed = elapsed_ms(started)
        try:
            if forward:
                history.record_apply(conn, m, elapsed)
            else:
                history.record_rollback(conn, m.id)
        except pgerrors.LockNotAvailable:
            raise
        except psycopg.Error as exc:
            raise OperationFailed(
                f"{path}: writing the migration history failed: {pg_error_message(exc)}",
                "check the history tables (_yoyo_migration, dbops.migration_checksum), then rerun",
            ) from exc

    note = ""
    if m.transactional:

        def attempt() -> None:
            with conn.transaction():
                set_lock_timeout(conn, settings.lock_timeout_ms, local=True)
                _execute(conn, statements, path)
                record()
                failpoint("migrate.before_commit")

        with_lock_retries(settings, path, attempt)
    else:
        set_lock_timeout(conn, settings.lock_timeout_ms, local=False)
        try:
            dropped = _drop_invalid_indexes(conn, statements)
            if dropped:
                note = "dropped invalid index left by an earlier failed run: " + ", ".join(dropped)
            for st in statements:
                with_lock_retries(settings, path, functools.partial(_execute, conn, [st], path))
            with conn.transaction():
                record()
        finally:
            conn.execute("reset lock_timeout")
    return StepReport(
        m.id,
        direction,
        True,
        elapsed_ms(started),
        tuple(s.sql + ";" for s in statements),
        note,
    )


Hook = Callable[[Conn], tuple[str, ...]]
PlanHook = Callable[[Conn, Sequence[MigrationFile]], tuple[str, ...]]


def _dry_run(
    conn: Conn,
    plan: Sequence[MigrationFile],
    settings: Settings,
    direction: Direction,
    prepare: PlanHook | None = None,
) -> list[StepReport]:
    """Execute the transactional prefix of the plan in one transaction that is rolled back."""
    steps: list[StepReport] = []
    executing = True
    with conn.transaction(force_rollback=True):
        if prepare is not None and plan:
            prepare(conn, plan)
        for m in plan:
            file, statements = m.script(direction)
            executing = executing and m.transactional
            started = time.monotonic()
            note = ""
            if executing:
                set_lock_timeout(conn, settings.lock_timeout_ms, local=True)
                try:
                    _execute(conn, statements, settings.display_path(file))
                except SQLFileError as exc:
                    if exc.hint == MigrationSQLError.next_step:
                        verb = "migrate" if direction == "apply" else "rollback"
                        again = f"fix the file and run `dbops {verb} --dry-run` again"
                        exc.hint = f"{again}; dry run: nothing was changed"
                    raise
            else:
                note = "not executed in a dry run: runs outside a transaction (or follows one that does)"
            steps.append(
                StepReport(
                    m.id,
                    direction,
                    False,
                    elapsed_ms(started),
                    tuple(s.sql + ";" for s in statements),
                    note,
                )
            )
    return steps


# -- verbs --------------------------------------------------------------------------------


def _require_rollbacks(plan: Sequence[MigrationFile]) -> None:
    """Refuse before anything runs, naming the first migration of the plan (newest first)
    that is apply-only."""
    for m in plan:
        if not m.has_rollback:
            raise ConfigError(
                f"cannot roll back {m.id}: it has no rollback file ({m.rollback_path.name}), so it is "
                "apply-only; nothing was rolled back",
                f"write {m.rollback_path.name}, or roll back only the migrations after it "
                f"(`dbops rollback --to {m.id}`)",
            )


def migrate(
    conn: Conn,
    settings: Settings,
    *,
    to: str | None = None,
    dry_run: bool = False,
    after: Callable[[Conn], tuple[str, ...]] | None = None,
) -> RunReport:
    """Apply pending migrations in order (up to `to`), then call `after` under the same lock."""
    files = read_migration_dir(settings.migrations_dir)
    target = find(files, to) if to else None
    with job_lock(conn, JobFamily.MIGRATE, settings.lock_wait):
        notes: list[str] = chosen_note(to, target) if to and target else []
        stale = history.clear_stale_yoyo_locks(conn, dry_run=dry_run)
        if stale:
            notes.append(f"cleared yoyo lock rows of ended processes: {stale}")
        applied = history.read_applied(conn)
        report = status_of(files, applied)
        _refuse_edited(report)
        notes += [f"{m.id}: {m.note}" for m in report.migrations if m.state == "applied" and m.note]
        plan = []
        for f in files:
            if f.id not in applied:
                plan.append(f)
            if target and f.id == target.id:
                break
        for m in plan:  # all or nothing, checked before the first statement runs
            check_all_or_nothing(m)
        if dry_run:
            return RunReport("apply", True, tuple(_dry_run(conn, plan, settings, "apply")), tuple(notes))
        history.ensure_history(conn)
        rerecorded = history.rerecord_legacy_checksums(conn, [f for f in files if f.id in applied])
        if rerecorded:
            notes.append(f"re-recorded the comment-free checksums of {len(rerecorded)} applied migrations")
        steps = [apply_file(conn, m, settings) for m in plan]
        if after is not None:
            notes += after(conn)
        return RunReport("apply", False, tuple(steps), tuple(notes))


def plan_rollback(
    files: Sequence[MigrationFile],
    applied: dict[str, history.AppliedMigration],
    *,
    steps: int | None = None,
    to: str | None = None,
    everything: bool = False,
) -> list[MigrationFile]:
    chosen = sum(x is not None and x is not False for x in (steps, to, everything))
    if chosen != 1:
        raise ConfigError("say what to roll back", "pass exactly one of --steps N, --to ID or --all")
    missing = [mid for mid in applied if mid not in {f.id for f in files}]
    if missing:
        raise ConfigError(
            f"applied migration {missing[0]} has no file", "restore it from version control first"
        )
    done = [f for f in files if f.id in applied]
    done.reverse()
    if everything:
        return done
    if steps is not None:
        if steps < 1:
            raise ConfigError("--steps must be at least 1", "pass --steps 1 to undo the newest")
        return done[:steps]
    assert to is not None
    target = find(list(files), to)
    if target.id not in applied:
        raise ConfigError(f"migration {target.id} is not applied", "run `dbops status`")
    return done[: [m.id for m in done].index(target.id)]


class RollbackChoice(TypedDict, total=False):
    """`rollback`'s keyword arguments for what to roll back, for callers that pass them through."""

    steps: int | None
    to: str | None
    everything: bool
    dry_run: bool


def rollback(
    conn: Conn,
    settings: Settings,
    *,
    steps: int | None = None,
    to: str | None = None,
    everything: bool = False,
    dry_run: bool = False,
    before: PlanHook | None = None,
    after: Hook | None = None,
) -> RunReport:
    """Roll back the planned migrations; `before` and `after` run under the same lock around
    them when there is anything to roll back (the policies layer steps aside and returns)."""
    files = read_migration_dir(settings.migrations_dir)
    with job_lock(conn, JobFamily.MIGRATE, settings.lock_wait):
        applied = history.read_applied(conn)
        _refuse_edited(status_of(files, applied))
        plan = plan_rollback(files, applied, steps=steps, to=to, everything=everything)
        _require_rollbacks(plan)
        chosen = chosen_note(to, find(files, to)) if to else []
        for m in plan:
            check_all_or_nothing(m, ("rollback",))
        if dry_run:
            return RunReport(
                "rollback", True, tuple(_dry_run(conn, plan, settings, "rollback", before)), tuple(chosen)
            )
        history.ensure_history(conn)
        notes: list[str] = list(chosen)
        if before is not None and plan:
            notes += before(conn, plan)
        steps_done = tuple(rollback_file(conn, m, settings) for m in plan)
        if after is not None and plan:
            notes += after(conn)
        return RunReport("rollback", False, steps_done, tuple(notes))


def mark(
    conn: Conn,
    settings: Settings,
    refs: Sequence[str],
    *,
    rehash: bool = False,
    dry_run: bool = False,
) -> RunReport:
    """Record migrations as applied without running them (baseline), or accept edits (rehash)."""
    files = read_migration_dir(settings.migrations_dir)
    chosen = [find(files, r) for r in refs]
    with job_lock(conn, JobFamily.MIGRATE, settings.lock_wait):
        applied = history.read_applied(conn)
        for m in chosen:
            if rehash and m.id not in applied:
                raise ConfigError(
                    f"migration {m.id} is not applied", f"use `dbops mark {m.id}` to baseline it"
                )
        direction: Direction = "rehash" if rehash else "mark"
        if not dry_run:
            history.ensure_history(conn)
            with conn.transaction():
                for m in chosen:
                    history.record_apply(conn, m, None, log="mark")
        return RunReport(
            direction, dry_run, tuple(StepReport(m.id, direction, not dry_run, 0) for m in chosen)
        )


def unmark(conn: Conn, settings: Settings, refs: Sequence[str], *, dry_run: bool = False) -> RunReport:
    """Forget migrations in the history without running their rollbacks."""
    files = read_migration_dir(settings.migrations_dir)
    with job_lock(conn, JobFamily.MIGRATE, settings.lock_wait):
        applied = history.read_applied(conn)
        ids = []
        for ref in refs:
            mid = ref if ref in applied else find(files, ref).id
            if mid not in applied:
                raise ConfigError(f"migration {mid} is not applied", "run `dbops status`")
            ids.append(mid)
        if not dry_run:
            with conn.transaction():
                for mid in ids:
                    history.record_rollback(conn, mid, log="unmark")
        return RunReport("unmark", dry_run, tuple(StepReport(mid, "unmark", not dry_run, 0) for mid in ids))
