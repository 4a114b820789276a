"""Declarative row-level security: the live policies of a managed table become exactly its file's.

`policies/<table>.sql` manages `public.<table>`, `policies/<schema>.<table>.sql` manages
`<schema>.<table>`. Applying a file drops every policy on its table, turns FORCE ROW LEVEL
SECURITY off, and runs the file, which must enable row level security and create the
table's policies. All files of one apply run in one transaction under the migrate lock
with `lock_timeout`, so a failing file leaves every live policy as it was.

`dbops.policy_apply` records per table the file's checksum and the table's state right
after the apply. `apply_changed` (run by `dbops migrate`) re-applies a file that is new,
whose checksum changed, or whose table no longer has the recorded state (for example after
a rollback recreated the table with the seed's policies). `diff` compares the live state
with the recorded one without locking anything; a file changed since its last apply is
evaluated in a transaction that is rolled back. Around `dbops rollback`, `withdraw` and
`reapply_after_rollback` step the policies aside and put back what still applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import errors as pgerrors
from psycopg import sql

from ops import sqlfiles
from ops.config import Settings
from ops.db import Conn, pg_error_message
from ops.errors import ConfigError, OperationFailed
from ops.locks import JobFamily, job_lock
from ops.migrations import MigrationFile, set_lock_timeout, with_lock_retries
from ops.policies._files import (
    PolicyFile,
    PolicySQLError,
    read_policy_dir,
    run_file,
)
from ops.policies._state import (
    PolicyDifference,
    Recorded,
    TableState,
    compare,
    create_statement,
    qualified,
    read_recorded,
    read_states,
    record,
)


@dataclass(frozen=True)
class FileApply:
    file: str
    table: str
    reason: str
    dropped: tuple[str, ...]
    created: tuple[str, ...]
    changed: bool  # the table's state differs from before the apply


@dataclass(frozen=True)
class ApplyReport:
    dry_run: bool
    files: tuple[FileApply, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyDiff:
    """Live policies against policies/: `differences` is empty when they match."""

    tables: tuple[str, ...]
    differences: tuple[PolicyDifference, ...]
    evaluated: tuple[str, ...]  # files new or changed since their last apply, evaluated and rolled back

    @property
    def has_differences(self) -> bool:
        return bool(self.differences)


# -- applying -----------------------------------------------------------------------------


def _apply_in_transaction(
    conn: Conn,
    settings: Settings,
    files: Sequence[PolicyFile],
    chosen: dict[str, str],
) -> list[FileApply]:
    """Apply the chosen files (table -> reason) in the caller's transaction; record each."""
    set_lock_timeout(conn, settings.lock_timeout_ms, local=True)
    conn.execute(sqlfiles.query(__name__, "policy_setup"))
    managed = [f.table for f in files]
    results = []
    for f in files:
        if f.table not in chosen:
            continue
        label = settings.display_path(f.path)
        before = read_states(conn, managed)
        run_file(conn, f, before[f.table], label)
        after = read_states(conn, managed)
        state = after[f.table]
        if not state.rls_enabled:
            raise ConfigError(
                f"{label} does not enable row level security on {f.table}",
                f"add `alter table {f.table} enable row level security;` to the file",
            )
        for other in managed:
            if other != f.table and after[other] != before[other]:
                raise ConfigError(
                    f"{label} changed the policies of {other}; a file manages only its own table",
                    f"move those statements to the policy file of {other}",
                )
        record(conn, f.table, f.path.name, f.sha256, state, before[f.table])
        old, new = before[f.table], state
        results.append(
            FileApply(
                label,
                f.table,
                chosen[f.table],
                tuple(p.name for p in old.policies if new.policy(p.name) != p),
                tuple(p.name for p in new.policies if old.policy(p.name) != p),
                old != new,
            )
        )
    return results


def _needs_apply(f: PolicyFile, recorded: dict[str, Recorded], live: TableState) -> str | None:
    rec = recorded.get(f.table)
    if rec is None:
        return "never applied"
    if rec.sha256 != f.sha256:
        return "file changed since its last apply"
    if compare(rec.state, live):
        return "live policies differ from the last apply"
    return None


def apply(
    conn: Conn,
    settings: Settings,
    *,
    dry_run: bool = False,
    only_changed: bool = False,
) -> ApplyReport:
    """Make each managed table's live policies exactly its file's, in one transaction.

    With `only_changed`, only files that are new, changed or whose table drifted are
    applied, and tables that do not exist yet are skipped with a note. `dry_run` is the
    same path ending in a rollback.
    """

    files = read_policy_dir(settings.policies_dir)
    notes: list[str] = []
    results: list[FileApply] = []
    with job_lock(conn, JobFamily.MIGRATE, settings.lock_wait):
        live = read_states(conn, [f.table for f in files])
        recorded = read_recorded(conn)
        chosen: dict[str, str] = {}
        for f in files:
            if not live[f.table].exists:
                if not only_changed:
                    raise ConfigError(
                        f"{settings.display_path(f.path)}: table {f.table} does not exist",
                        "run `dbops migrate` first, or remove the file if the table is gone",
                    )
                notes.append(f"skipped {f.path.name}: table {f.table} does not exist")
                continue
            reason = _needs_apply(f, recorded, live[f.table])
            if reason is not None or not only_changed:
                chosen[f.table] = reason or "requested"
        if not chosen:
            return ApplyReport(dry_run, (), tuple(notes))

        def attempt() -> None:
            results.clear()
            with conn.transaction(force_rollback=dry_run):
                results.extend(_apply_in_transaction(conn, settings, files, chosen))

        with_lock_retries(settings, "policies", attempt)
    return ApplyReport(dry_run, tuple(results), tuple(notes))


def apply_changed(conn: Conn, settings: Settings) -> tuple[str, ...]:
    """The `after` step of `dbops migrate`: apply new, changed or drifted policy files.

    Policies are written against the head of the migrations: while some are pending (a
    `migrate --to`), nothing is applied.
    """
    from ops import migrations

    if not settings.policies_dir.is_dir():
        return ()  # a project without policies/; `dbops policies diff` reports the missing directory
    pending = migrations.status(conn, settings).count("pending")
    if pending:
        return (f"policies not applied: {pending} migration(s) pending; `dbops migrate` applies them",)
    report = apply(conn, settings, only_changed=True)
    lines = [f"policies: applied {r.file} ({r.reason})" for r in report.files]
    return (*lines, *report.notes)


# -- around a rollback -------------------------------------------------------------------


def withdraw(conn: Conn, plan: Sequence[MigrationFile], settings: Settings) -> tuple[str, ...]:
    """Before `dbops rollback`: drop the policies of every managed table (RLS stays on).

    Policies are written against the head and depend on its objects (app.current_user_id()
    above all), which a rollback may drop. A policy the table had before its first apply
    (a migration's own, like the seed's) is put back when a rollback script of the plan
    names it, so that script finds what it drops. `reapply_after_rollback` then puts back
    every file that still applies; `dbops migrate` at the head applies the rest.
    """
    if not settings.policies_dir.is_dir():
        return ()
    files = read_policy_dir(settings.policies_dir)
    scripts = "\n".join(sqlfiles.read_text(m.rollback_path) for m in plan if m.has_rollback)
    notes: list[str] = []
    with job_lock(conn, JobFamily.MIGRATE, settings.lock_wait):
        live = read_states(conn, [f.table for f in files])
        recorded = read_recorded(conn)
        dropped = 0
        with conn.transaction():
            set_lock_timeout(conn, settings.lock_timeout_ms, local=True)
            for f in files:
                for p in live[f.table].policies:
                    conn.execute(
                        sql.SQL("drop policy {} on {}").format(sql.Identifier(p.name), qualified(f.table))
                    )
                    dropped += 1
                rec = recorded.get(f.table)
                for p in rec.baseline.policies if rec and rec.baseline and live[f.table].exists else ():
                    if p.name in scripts:
                        conn.execute(create_statement(f.table, p))
                        notes.append(f'policies: put back "{p.name}" on {f.table}, which the rollback drops')
    return (f"policies: withdrew {dropped} policies of {len(files)} managed tables for the rollback", *notes)


def reapply_after_rollback(conn: Conn, settings: Settings) -> tuple[str, ...]:
    """After `dbops rollback`: apply each policy file that still applies, each in a savepoint."""
    if not settings.policies_dir.is_dir():
        return ()
    files = read_policy_dir(settings.policies_dir)
    notes: list[str] = []
    applied = 0
    with job_lock(conn, JobFamily.MIGRATE, settings.lock_wait):
        live = read_states(conn, [f.table for f in files])
        with conn.transaction():
            set_lock_timeout(conn, settings.lock_timeout_ms, local=True)
            conn.execute(sqlfiles.query(__name__, "policy_setup"))
            for f in files:
                label = settings.display_path(f.path)
                if not live[f.table].exists:
                    continue
                try:
                    with conn.transaction():
                        run_file(conn, f, live[f.table], label)
                        record(
                            conn,
                            f.table,
                            f.path.name,
                            f.sha256,
                            read_states(conn, [f.table])[f.table],
                            live[f.table],
                        )
                    applied += 1
                except PolicySQLError as exc:
                    notes.append(
                        f"policies: {label} stays withdrawn ({exc.pg_message}); `dbops migrate` applies it"
                    )
    return (f"policies: re-applied {applied} of {len(files)} files after the rollback", *notes)


# -- diff ---------------------------------------------------------------------------------


def _evaluate(conn: Conn, settings: Settings, files: Sequence[PolicyFile]) -> dict[str, TableState]:
    """The state each file gives its table, from an apply in a transaction that is rolled back."""
    managed = [f.table for f in files]
    states: dict[str, TableState] = {}
    try:
        with conn.transaction(force_rollback=True):
            set_lock_timeout(conn, settings.lock_timeout_ms, local=True)
            for f in files:
                before = read_states(conn, managed)
                run_file(conn, f, before[f.table], settings.display_path(f.path))
                states[f.table] = read_states(conn, [f.table])[f.table]
    except pgerrors.LockNotAvailable as exc:
        raise OperationFailed(
            f"policies: no lock within {settings.lock_timeout_ms} ms to evaluate changed files "
            f"({pg_error_message(exc)})",
            "retry when the blocking session ends, or raise --lock-timeout",
        ) from exc
    return states


def diff(conn: Conn, settings: Settings, *, evaluate: bool = True) -> PolicyDiff:
    """Live row-level security of every managed table against its file in policies/.

    Read-only for files applied as they are now (compared with the recorded state); files
    that are new or changed since their last apply are evaluated in a rolled-back
    transaction, which briefly locks their tables. With `evaluate=False` (a read-only
    caller such as `dbops check`) such a file is not run: it is a `not-applied` difference.
    """
    files = read_policy_dir(settings.policies_dir)
    live = read_states(conn, [f.table for f in files])
    recorded = read_recorded(conn)
    expected: dict[str, TableState] = {}
    to_evaluate = []
    differences: list[PolicyDifference] = []
    for f in files:
        rec = recorded.get(f.table)
        if not live[f.table].exists:
            differences.append(PolicyDifference(f.table, "table-missing", None, "exists", None))
        elif rec is not None and rec.sha256 == f.sha256:
            expected[f.table] = rec.state
        elif evaluate:
            to_evaluate.append(f)
        else:
            why = "was never applied" if rec is None else "changed since its last apply"
            differences.append(
                PolicyDifference(f.table, "not-applied", None, f"{settings.display_path(f.path)} {why}", None)
            )
    if to_evaluate:
        expected.update(_evaluate(conn, settings, to_evaluate))
    for f in files:
        if f.table in expected:
            differences.extend(compare(expected[f.table], live[f.table]))
    return PolicyDiff(
        tuple(f.table for f in files),
        tuple(differences),
        tuple(settings.display_path(f.path) for f in to_evaluate),
    )
