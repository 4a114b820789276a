"""Helpers for the check tests: run one check on a test database and read its result."""

from __future__ import annotations

from typing import Any

from ops.check_config import DEFAULT_PARAMS, CheckConfig
from ops.checks import CheckReport, CheckResult, run_checks
from ops.config import Settings
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
