"""Python-backed checks: migration state, schema and policy drift, and amcheck (`--deep`).

They carry the same metadata as the SQL checks and run in the same read-only transaction
(schema drift also builds a scratch database on the same server). A check that cannot
decide raises `CheckUnavailable`: the runner reports it `unknown`, never passed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql

from ops import sqlfiles
from ops.checks.library import CheckDef
from ops.config import Settings
from ops.db import Conn, pg_error_message
from ops.errors import ConfigError
from ops.migrations import catalog
from ops.policies import PolicyDifference

Finding = tuple[str, str]  # (object, detail)


def is_corruption(exc: psycopg.Error) -> bool:
    """SQLSTATE class XX: internal_error, data_corrupted (a bad page), index_corrupted."""
    return (exc.sqlstate or "").startswith("XX")


class CheckUnavailable(Exception):
    """The check cannot decide here (missing privilege, extension, module or file)."""


@dataclass(frozen=True)
class CheckContext:
    conn: Conn
    settings: Settings
    conninfo: str
    schemas: tuple[str, ...]
    extensions: Mapping[str, str]  # installed extension -> its schema
    deep_timeout_ms: int
    memo: dict[str, Any] = field(default_factory=dict)  # shared by the checks of one run


@dataclass(frozen=True)
class PythonCheck:
    definition: CheckDef
    run: Callable[[CheckContext], Sequence[Finding]]


def _python(
    id: str, severity: str, category: str, description: str, remediation: str, *, deep: bool = False
) -> Callable[[Callable[[CheckContext], Sequence[Finding]]], PythonCheck]:
    def wrap(fn: Callable[[CheckContext], Sequence[Finding]]) -> PythonCheck:
        source = f"python:{fn.__module__}.{fn.__name__}"
        return PythonCheck(
            CheckDef(id, severity, category, description, remediation, source, "python", deep), fn
        )

    return wrap


# -- migration state ----------------------------------------------------------------------


def _migration_files(ctx: CheckContext) -> Any:
    from ops.migrations import read_migration_dir

    if "files" not in ctx.memo:
        ctx.memo["files"] = read_migration_dir(ctx.settings.migrations_dir)
    return ctx.memo["files"]


def _applied(ctx: CheckContext) -> Any:
    from ops.migrations import history

    if "applied" not in ctx.memo:
        ctx.memo["applied"] = history.read_applied(ctx.conn)
    return ctx.memo["applied"]


def _migration_state_check(
    state: str, severity: str, description: str, remediation: str, *, detail: str | None = None
) -> PythonCheck:
    """`migration_<state>`: a finding per migration that `dbops status` shows in `state`, with
    `detail` or else the status's own note."""

    def run(ctx: CheckContext) -> Sequence[Finding]:
        from ops.migrations import status_of

        report = status_of(_migration_files(ctx), _applied(ctx))
        return [(m.id, detail or m.note or state) for m in report.migrations if m.state == state]

    run.__name__ = "migration_" + state.replace("-", "_")  # the check's id, and its name in this module
    return _python(run.__name__, severity, "migration", description, remediation)(run)


migration_pending = _migration_state_check(
    "pending",
    "warning",
    "A migration file in migrations/ is not applied to this database.",
    "Run `dbops migrate` (see `dbops status` for the list).",
    detail="not applied: `dbops migrate` applies it",
)
migration_edited = _migration_state_check(
    "edited",
    "error",
    "An applied migration file's SQL changed since it was applied (its checksum differs).",
    "Restore the file from version control, or accept the edit with `dbops mark --rehash ID`.",
)
migration_missing_file = _migration_state_check(
    "missing-file",
    "error",
    "A migration recorded as applied has no file in migrations/.",
    "Restore the file from version control (`git log --all -- migrations/`).",
)


# -- drift ----------------------------------------------------------------------------------

_RLS_FLAGS = re.compile(r" rls=\S+ force_rls=\S+")


def _without_policies(snapshot: catalog.Snapshot) -> catalog.Snapshot:
    """Policies and RLS switches are policies/' business (policy_drift), not migrations'."""
    return {
        key: _RLS_FLAGS.sub("", value) if key[0] == "relation" else value
        for key, value in snapshot.items()
        if key[0] != "policy"
    }


def _short(text: str | None, limit: int = 240) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _snapshot_cache_path(ctx: CheckContext, plan: Sequence[Any]) -> Any:
    """The expected schema depends on the server (version, port, the extension versions it
    offers), the database and the role that build it, the snapshot query and the applied
    files' content: each goes into the key, so switching any of them builds afresh."""
    row = ctx.conn.execute(sqlfiles.query(__name__, "schema_cache_key")).fetchone()
    key = hashlib.sha256()
    key.update(repr(tuple(row or ())).encode())
    key.update(sqlfiles.load("ops.migrations", "catalog_snapshot").text.encode())
    for m in plan:
        key.update(f"{m.id}:{m.sha256}\n".encode())
    return ctx.settings.dbops_home / "cache" / f"schema-{key.hexdigest()[:32]}.json"


def _read_cached(path: Any) -> catalog.Snapshot | None:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {(kind, identity): definition for kind, identity, definition in rows}


def _write_cached(path: Any, snapshot: catalog.Snapshot) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([[k[0], k[1], v] for k, v in sorted(snapshot.items())]), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # no cache: the next run builds the scratch database again


def _build_expected(ctx: CheckContext, plan: Sequence[Any]) -> catalog.Snapshot:
    from ops.db import connect
    from ops.errors import DbopsError
    from ops.migrations import apply_file, history, scratch_database

    try:
        with scratch_database(ctx.conninfo, "dbops_check") as url, connect(url) as scratch:
            history.ensure_history(scratch)
            for m in plan:
                apply_file(scratch, m, ctx.settings)
            return catalog.snapshot(scratch)
    except pgerrors.InsufficientPrivilege as exc:
        raise CheckUnavailable(
            f"cannot build the scratch database: {pg_error_message(exc)} (needs CREATEDB)"
        ) from exc
    except DbopsError as exc:
        raise CheckUnavailable(f"the applied migrations do not build on a scratch database: {exc}") from exc


@_python(
    "schema_drift",
    "error",
    "migration",
    "The live schema differs from a scratch database built from the same applied migrations "
    "(extra, missing or different tables, columns, constraints, indexes, functions, grants); "
    "policies and RLS switches are compared by policy_drift.",
    "Capture an intended change in a migration (`dbops new NAME`); undo an unintended one by hand.",
)
def schema_drift(ctx: CheckContext) -> Sequence[Finding]:
    files = _migration_files(ctx)
    applied = _applied(ctx)
    missing = sorted(set(applied) - {f.id for f in files})
    if missing:
        raise CheckUnavailable(
            f"applied migration {missing[0]} has no file, so the expected schema cannot be built "
            "(see migration_missing_file)"
        )
    live = catalog.snapshot(ctx.conn)
    plan = [m for m in files if m.id in applied]
    cache = _snapshot_cache_path(ctx, plan)
    expected = _read_cached(cache)
    if expected is None:
        expected = _build_expected(ctx, plan)
        _write_cached(cache, expected)
    findings = []
    for d in catalog.diff(_without_policies(expected), _without_policies(live)):
        if d.before is None:
            detail = f"in the live database, not made by the migrations: {_short(d.after)}"
        elif d.after is None:
            detail = f"made by the migrations, missing from the live database: {_short(d.before)}"
        else:
            detail = catalog.definition_diff(d.before, d.after, "migrations", "live")
        findings.append((f"{d.kind} {d.identity}", detail))
    return findings


def _difference_object(d: PolicyDifference) -> str:
    """`schema.table.policy` for a policy, `schema.table:kind` for the table's own state."""
    return f"{d.table}.{d.policy}" if d.policy else f"{d.table}:{d.kind}"


@_python(
    "policy_drift",
    "error",
    "migration",
    "The live policies or RLS switches of a managed table differ from its file under policies/, "
    "or the file is new or changed since its last apply.",
    "Run `dbops policies diff` to see them and `dbops policies apply` to make the live policies the files'.",
)
def policy_drift(ctx: CheckContext) -> Sequence[Finding]:
    from ops import policies

    try:  # read-only: a file not applied as it is now is a finding, never run here
        result = policies.diff(ctx.conn, ctx.settings, evaluate=False)
    except ConfigError as exc:
        raise CheckUnavailable(f"{exc} ({exc.hint})" if exc.hint else str(exc)) from exc
    return [
        (_difference_object(d), _short(d.describe().removeprefix(f"{d.table}: "), 400))
        for d in result.differences
    ]


# -- physical (--deep) ------------------------------------------------------------------------


def _amcheck(ctx: CheckContext) -> str:
    schema = ctx.extensions.get("amcheck")
    if schema is None:
        raise CheckUnavailable(
            "the amcheck extension is not installed in this database: CREATE EXTENSION amcheck"
        )
    return schema


def _targets(ctx: CheckContext, kind: str) -> list[tuple[int, str]]:
    targets = sqlfiles.query(__name__, "amcheck_targets")
    rows = ctx.conn.execute(targets, {"schemas": list(ctx.schemas)}).fetchall()
    return [(oid, name) for k, oid, name, _ in rows if k == kind]


def _still_exists(ctx: CheckContext, oid: int) -> bool:
    return ctx.conn.execute("select 1 from pg_class where oid = %s", (oid,)).fetchone() is not None


def _verify_each(
    ctx: CheckContext, targets: Sequence[tuple[int, str]], verify: Callable[[int], list[str]]
) -> list[Finding]:
    findings: list[Finding] = []
    ctx.conn.execute(
        sql.SQL("set local statement_timeout = {}").format(sql.Literal(f"{ctx.deep_timeout_ms}ms"))
    )
    for oid, name in targets:
        try:
            with ctx.conn.transaction():
                problems = verify(oid)
        except pgerrors.InsufficientPrivilege as exc:
            raise CheckUnavailable(f"amcheck refused: {pg_error_message(exc)}") from exc
        except psycopg.Error as exc:
            if not is_corruption(exc):
                raise
            if not _still_exists(ctx, oid):  # dropped since it was listed: nothing to verify
                continue
            problems = [pg_error_message(exc)]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            findings.append((name, _short(problems[0], 400) + more))
    return findings


@_python(
    "amcheck_btree",
    "error",
    "physical",
    "amcheck's bt_index_check with heapallindexed found a B-tree index corrupt or missing heap tuples.",
    "REINDEX INDEX CONCURRENTLY the index; then look for the cause (storage, fsync, a bug) before trusting "
    "the server.",
    deep=True,
)
def amcheck_btree(ctx: CheckContext) -> Sequence[Finding]:
    schema = _amcheck(ctx)
    query = sql.SQL("select {}.bt_index_check(index => %s::regclass, heapallindexed => true)").format(
        sql.Identifier(schema)
    )

    def verify(oid: int) -> list[str]:
        ctx.conn.execute(query, (oid,))
        return []

    return _verify_each(ctx, _targets(ctx, "btree"), verify)


@_python(
    "amcheck_heap",
    "error",
    "physical",
    "amcheck's verify_heapam found corrupt pages or tuples in a table (or its TOAST table).",
    "Restore the table from a verified backup (`dbops backup list`, `dbops restore`); find the cause first.",
    deep=True,
)
def amcheck_heap(ctx: CheckContext) -> Sequence[Finding]:
    schema = _amcheck(ctx)
    query = sql.SQL(
        "select blkno, offnum, attnum, msg from {}.verify_heapam("
        "relation => %s::regclass, on_error_stop => false, check_toast => true)"
    ).format(sql.Identifier(schema))

    def verify(oid: int) -> list[str]:
        return [
            f"block {blk}, offset {off}" + (f", attribute {att}" if att is not None else "") + f": {msg}"
            for blk, off, att, msg in ctx.conn.execute(query, (oid,)).fetchall()
        ]

    return _verify_each(ctx, _targets(ctx, "heap"), verify)


# -- files ----------------------------------------------------------------------------------


@_python(
    "backup_files_not_private",
    "error",
    "security",
    "A file or folder inside the backup directory can be read (or entered) by group or others; a "
    "backup holds every user's data.",
    "chmod -R go-rwx the backup directory (folders 0700, files 0600); dbops backup writes them so "
    "whatever the umask.",
)
def backup_files_not_private(ctx: CheckContext) -> Sequence[Finding]:
    import os
    import stat

    from ops.config import path_setting

    where = path_setting(ctx.settings, "backup_dir", None, os.environ, "backups")
    if where is None or not where.is_dir():
        return []
    findings: list[Finding] = []
    # the directory itself may be the operator's (dbops creates it 0700 only when it is new)
    for path in sorted(where.rglob("*")):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077 and not path.is_symlink():
            kind, want = ("folder", 0o700) if path.is_dir() else ("file", 0o600)
            detail = f"{kind} mode {mode:04o}: group or others can reach it (want {want:04o})"
            findings.append((str(path), detail))
    return findings


PYTHON_CHECKS: tuple[PythonCheck, ...] = (
    migration_pending,
    migration_edited,
    migration_missing_file,
    schema_drift,
    policy_drift,
    amcheck_btree,
    amcheck_heap,
    backup_files_not_private,
)
RUNNERS: dict[str, Callable[[CheckContext], Sequence[Finding]]] = {
    c.definition.id: c.run for c in PYTHON_CHECKS
}
