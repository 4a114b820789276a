"""`dbops check`: run the check library in one read-only transaction and report findings.

Never a false all-clear: a check that cannot run (missing privilege or extension, a table
it may only partly see under RLS, a timeout, an error) is `unknown`, and an unknown check
fails the run like a finding unless the caller allows it. `row_security = off` makes a
query that RLS would silently filter fail instead.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql

from ops import sqlfiles
from ops.checks.builtin import RUNNERS, CheckContext, CheckUnavailable, is_corruption
from ops.checks.collection import load_library
from ops.checks.config import CheckConfig, Waiver
from ops.checks.library import CATEGORIES, CheckDef, severity_rank
from ops.config import Settings
from ops.db import Conn, pg_error_message
from ops.errors import ConfigError, ExitCode
from ops.retry import elapsed_ms

Status = Literal["passed", "failed", "waived", "unknown"]


@dataclass(frozen=True)
class Finding:
    id: str  # check:object, the key waivers use
    check: str
    object: str
    severity: str
    category: str
    detail: str
    remediation: str
    waived: bool = False
    waiver_reason: str | None = None


@dataclass(frozen=True)
class CheckResult:
    check: str
    severity: str
    category: str
    description: str
    remediation: str
    source: str
    status: Status
    findings: tuple[Finding, ...] = ()
    reason: str = ""  # why unknown
    duration_ms: int = 0
    corruption: bool = False  # a data_corrupted / index_corrupted error, or a physical finding


@dataclass(frozen=True)
class WaiverNote:
    id: str
    problem: Literal["expired", "unused"]
    reason: str
    expires: date | None


@dataclass(frozen=True)
class CheckReport:
    database: str
    schemas: tuple[str, ...]
    deep: bool
    fail_on: str
    allow_unknown: bool
    results: tuple[CheckResult, ...]
    waiver_notes: tuple[WaiverNote, ...] = ()

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    @property
    def unknown(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "unknown"]

    @property
    def corruption(self) -> bool:
        return any(r.corruption for r in self.results)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def exit_code(self) -> int:
        """7 on corruption; 1 on an active finding at --fail-on or an unknown check; else 0."""
        if self.corruption:
            return int(ExitCode.CORRUPTION)
        threshold = severity_rank(self.fail_on)
        if any(not f.waived and severity_rank(f.severity) >= threshold for f in self.findings):
            return int(ExitCode.FINDINGS)
        if self.unknown and not self.allow_unknown:
            return int(ExitCode.FINDINGS)
        return int(ExitCode.OK)


@dataclass(frozen=True)
class _Visibility:
    superuser: bool
    extensions: dict[str, str]
    roles: frozenset[str]
    unreadable_tables: tuple[str, ...]
    unreadable_sequences: tuple[str, ...]
    createdb: bool


def select_checks(
    library: Sequence[CheckDef], only: Sequence[str], categories: Sequence[str], deep: bool
) -> list[CheckDef]:
    known = {c.id for c in library}
    for ref in only:
        if ref not in known:
            raise ConfigError(f"no check {ref!r}", "list the checks with `dbops check --list`")
    for cat in categories:
        if cat not in CATEGORIES:
            raise ConfigError(f"no category {cat!r}", f"use one of {', '.join(CATEGORIES)}")
    chosen = []
    for c in library:
        if only and c.id not in only:
            continue
        if categories and c.category not in categories:
            continue
        if c.deep and not (deep or c.id in only or c.category in categories):
            continue
        chosen.append(c)
    if not chosen:
        raise ConfigError(
            "no check matches "
            + " and ".join(
                part
                for part in (
                    "--only " + ",".join(only) if only else "",
                    "--category " + ",".join(categories) if categories else "",
                )
                if part
            ),
            "list the checks with `dbops check --list`",
        )
    return chosen


def _missing_requirements(check: CheckDef, seen: _Visibility) -> str:
    for req in check.requires:
        if req == "superuser" and not seen.superuser:
            return "needs a superuser"
        if req == "createdb" and not (seen.superuser or seen.createdb):
            return "needs CREATEDB"
        if req == "read-tables" and seen.unreadable_tables:
            return (
                "cannot fully read "
                + ", ".join(seen.unreadable_tables[:5])
                + (" ..." if len(seen.unreadable_tables) > 5 else "")
                + " (no SELECT, or row-level security applies)"
            )
        if req == "read-sequences" and seen.unreadable_sequences:
            return "cannot read sequences " + ", ".join(seen.unreadable_sequences[:5])
        kind, _, name = req.partition(":")
        if kind == "extension" and name not in seen.extensions:
            return f"needs the {name} extension (CREATE EXTENSION {name})"
        if kind == "role" and not (seen.superuser or name in seen.roles):
            return f"needs membership in {name}"
    return ""


def _visibility(conn: Conn, schemas: Sequence[str]) -> _Visibility:
    row = conn.execute(sqlfiles.query(__name__, "check_requirements"), {"schemas": list(schemas)}).fetchone()
    assert row is not None
    createdb = conn.execute("select rolcreatedb from pg_roles where rolname = current_user").fetchone()
    return _Visibility(
        superuser=bool(row[0]),
        extensions=dict(e.split(":", 1) for e in row[1]),
        roles=frozenset(row[2]),
        unreadable_tables=tuple(row[3]),
        unreadable_sequences=tuple(row[4]),
        createdb=bool(createdb and createdb[0]),
    )


def _set_params(conn: Conn, params: Mapping[str, Any]) -> None:
    for name, value in params.items():
        if isinstance(value, list | tuple):
            conn.execute("select set_config(%s, %s::text[]::text, true)", (f"dbops.{name}", list(value)))
        else:
            conn.execute("select set_config(%s, %s, true)", (f"dbops.{name}", str(value)))


def _run_one(check: CheckDef, ctx: CheckContext, seen: _Visibility, config: CheckConfig) -> CheckResult:
    started = time.monotonic()

    def result(
        status: Status, findings: Sequence[tuple[str, str]] = (), reason: str = "", **kw: Any
    ) -> CheckResult:
        return CheckResult(
            check.id,
            check.severity,
            check.category,
            check.description,
            check.remediation,
            check.source,
            status,
            tuple(
                Finding(
                    f"{check.id}:{obj}",
                    check.id,
                    obj,
                    check.severity,
                    check.category,
                    detail,
                    check.remediation,
                )
                for obj, detail in findings
            ),
            reason,
            elapsed_ms(started),
            **kw,
        )

    missing = _missing_requirements(check, seen)
    if missing:
        return result("unknown", reason=missing)
    conn = ctx.conn
    try:
        with conn.transaction():
            if check.kind == "python":
                rows = list(RUNNERS[check.id](ctx))
            else:
                cur = conn.execute(sql.SQL(check.sql))  # type: ignore[arg-type,unused-ignore]
                names = [d.name for d in cur.description or ()]
                if "object" not in names or "detail" not in names:
                    return result("unknown", reason="the check's SELECT has no object and detail columns")
                o, d = names.index("object"), names.index("detail")
                rows = [(str(r[o]), "" if r[d] is None else str(r[d])) for r in cur.fetchall()]
    except CheckUnavailable as exc:
        return result("unknown", reason=str(exc))
    except pgerrors.QueryCanceled:
        limit, key = (
            (config.deep_statement_timeout_ms, "deep_statement_timeout")
            if check.deep
            else (config.statement_timeout_ms, "statement_timeout")
        )
        return result("unknown", reason=f"timed out after {limit} ms (raise {key} in [tool.dbops.checks])")
    except pgerrors.LockNotAvailable as exc:
        return result("unknown", reason=f"waited too long for a lock: {pg_error_message(exc)}")
    except pgerrors.InsufficientPrivilege as exc:
        return result("unknown", reason=f"not allowed: {pg_error_message(exc)}")
    except psycopg.Error as exc:
        if conn.broken or conn.closed:
            raise
        if is_corruption(exc):
            return result("unknown", reason=f"corruption: {pg_error_message(exc)}", corruption=True)
        return result("unknown", reason=pg_error_message(exc))
    if not rows:
        return result("passed")
    return result("failed", rows, corruption=check.category == "physical")


def _apply_waivers(
    results: list[CheckResult], waivers: Sequence[Waiver], today: date
) -> tuple[list[CheckResult], list[WaiverNote]]:
    by_id = {w.id: w for w in waivers}
    used: set[str] = set()
    notes: list[WaiverNote] = []
    out = []
    for r in results:
        findings = []
        for f in r.findings:
            w = by_id.get(f.id)
            if w is None:
                findings.append(f)
                continue
            used.add(w.id)
            if w.expires is not None and w.expires < today:
                notes.append(WaiverNote(w.id, "expired", w.reason, w.expires))
                findings.append(f)
            else:
                findings.append(_waived(f, w.reason))
        status = r.status
        if findings and all(f.waived for f in findings):
            status = "waived"
        corrupt = r.corruption and (r.status == "unknown" or any(not f.waived for f in findings))
        out.append(_replace_findings(r, tuple(findings), status, corrupt))
    ran = {r.check for r in results if r.status != "unknown"}
    for w in waivers:
        if w.id not in used and w.id.split(":", 1)[0] in ran:
            notes.append(WaiverNote(w.id, "unused", w.reason, w.expires))
    return out, notes


def _waived(f: Finding, reason: str) -> Finding:
    return Finding(f.id, f.check, f.object, f.severity, f.category, f.detail, f.remediation, True, reason)


def _replace_findings(
    r: CheckResult, findings: tuple[Finding, ...], status: Status, corrupt: bool
) -> CheckResult:
    return CheckResult(
        r.check,
        r.severity,
        r.category,
        r.description,
        r.remediation,
        r.source,
        status,
        findings,
        r.reason,
        r.duration_ms,
        corrupt,
    )


def _require_schemas(conn: Conn, schemas: Sequence[str]) -> None:
    """Inspecting a schema that does not exist would pass every check: refuse instead."""
    found = {
        r[0]
        for r in conn.execute(
            "select nspname from pg_namespace where nspname = any(%s)", (list(schemas),)
        ).fetchall()
    }
    missing = [s for s in schemas if s not in found]
    if missing:
        raise ConfigError(
            f"schema {missing[0]} does not exist in {conn.info.dbname}",
            "fix --schema, DBOPS_CHECK_SCHEMAS or schemas in [tool.dbops.checks]",
        )


def _set_timeouts(conn: Conn, ms: int) -> None:
    """Per check, since a deep check raises its own; lock_timeout keeps a DDL lock from stalling a check."""
    limit = sql.Literal(f"{ms}ms")
    conn.execute(sql.SQL("set local statement_timeout = {}").format(limit))
    conn.execute(sql.SQL("set local lock_timeout = {}").format(limit))


def run_checks(
    conn: Conn,
    settings: Settings,
    config: CheckConfig,
    *,
    conninfo: str,
    only: Sequence[str] = (),
    categories: Sequence[str] = (),
    deep: bool = False,
    today: date | None = None,
) -> CheckReport:
    """Run the selected checks in one read-only, repeatable-read transaction on `conn`."""
    library = load_library(settings.checks_dir, settings.project_root)
    chosen = select_checks(library, only, categories, deep)
    results: list[CheckResult] = []
    with conn.transaction():
        conn.execute("set transaction isolation level repeatable read, read only")
        conn.execute("set local row_security = off")
        if config.schemas is None:
            rows = conn.execute(sqlfiles.query(__name__, "check_default_schemas")).fetchall()
            schemas = tuple(r[0] for r in rows)
        else:
            schemas = config.schemas
            _require_schemas(conn, schemas)
        _set_params(conn, {**config.params, "schemas": list(schemas)})
        seen = _visibility(conn, schemas)
        ctx = CheckContext(
            conn, settings, conninfo, schemas, seen.extensions, config.deep_statement_timeout_ms
        )
        for check in chosen:
            _set_timeouts(conn, config.statement_timeout_ms)
            results.append(_run_one(check, ctx, seen, config))
    results, notes = _apply_waivers(results, config.waivers, today or date.today())
    return CheckReport(
        conn.info.dbname,
        schemas,
        deep,
        config.fail_on,
        config.allow_unknown,
        tuple(results),
        tuple(notes),
    )
