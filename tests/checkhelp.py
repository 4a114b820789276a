"""Helpers for the check tests: run one check on a test database and read its result."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from ops.checks import DEFAULT_PARAMS, CheckConfig, CheckReport, CheckResult, run_checks
from ops.config import Settings
from ops.policies import create_statement, qualified, read_recorded, read_states
from tests.conftest import Database


def run(
    db: Database,
    *only: str,
    deep: bool = False,
    params: dict[str, Any] | None = None,
    settings: Settings | None = None,
    **config: Any,
) -> CheckReport:
    """Run checks `only` (all when empty) with the project's settings and CheckConfig(**config)."""
    cfg = CheckConfig(params={**DEFAULT_PARAMS, **(params or {})}, **config)
    return run_checks(db.conn, settings or db.settings(), cfg, conninfo=db.url, only=only, deep=deep)


def result(db: Database, check: str, **kw: Any) -> CheckResult:
    report = run(db, check, **kw)
    (res,) = report.results
    assert res.status != "unknown", f"{check} did not run: {res.reason}"
    return res


def objects(db: Database, check: str, **kw: Any) -> list[str]:
    return [f.object for f in result(db, check, **kw).findings]


def seed_policies(db: Database) -> None:
    """Put every managed table back as the migrations alone leave it, before `policies apply`:
    the state `dbops.policy_apply` recorded before its first apply (the seed's permissive
    policies, RLS off on study_sessions, topics, misconceptions and plan_cache)."""
    recorded = read_recorded(db.conn)
    assert recorded, "the test template has its policies applied"
    live = read_states(db.conn, recorded)
    for table, rec in recorded.items():
        assert rec.baseline is not None
        target = qualified(table)
        for p in live[table].policies:
            db.conn.execute(sql.SQL("drop policy {} on {}").format(sql.Identifier(p.name), target))
        for switch in (
            "enable" if rec.baseline.rls_enabled else "disable",
            "force" if rec.baseline.rls_forced else "no force",
        ):
            db.conn.execute(sql.SQL("alter table {} {} row level security").format(target, sql.SQL(switch)))
        for p in rec.baseline.policies:
            db.conn.execute(create_statement(table, p))
