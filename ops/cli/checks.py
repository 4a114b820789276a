"""`dbops check`: the check library against the database, as a table, JSON or SARIF."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from ops.cli._context import AppContext, fail_on_option, pass_app, table
from ops.errors import ConfigError


def _render_text(report: Any) -> None:
    active = [f for f in report.findings if not f.waived]
    if active:
        rank = {"error": 0, "warning": 1, "info": 2}
        rows = sorted(active, key=lambda f: (rank[f.severity], f.id))
        table(
            ["severity", "finding", "detail"],
            [(f.severity, f.id, f.detail) for f in rows],
            title="Findings",
            names="finding",
        )
    waived = [f for f in report.findings if f.waived]
    for f in waived:
        click.echo(f"waived {f.id}: {f.waiver_reason}")
    for r in report.unknown:
        click.echo(f"UNKNOWN {r.check}: {r.reason}")
    for note in report.waiver_notes:
        when = f" on {note.expires.isoformat()}" if note.expires else ""
        what = (
            f"expired{when}, the finding counts again" if note.problem == "expired" else "matches no finding"
        )
        click.echo(f"waiver {note.id} {what}")
    by_sev = {s: sum(1 for f in active if f.severity == s) for s in ("error", "warning", "info")}
    click.echo(
        f"{len(report.results)} checks: {report.count('passed')} passed, "
        f"{report.count('failed')} with findings, {report.count('waived')} waived, "
        f"{len(report.unknown)} unknown; findings: "
        f"{by_sev['error']} error, {by_sev['warning']} warning, {by_sev['info']} info"
    )
    if report.corruption:
        click.echo("CORRUPTION: amcheck found damaged data; see the findings above")
    elif report.unknown and not report.allow_unknown:
        click.echo("not an all-clear: unknown checks did not run (fix the reason, or pass --allow-unknown)")


def _render_list(app: AppContext, *, as_json: bool) -> None:
    """The checks as a table, or as JSON with --json or --format json."""
    from ops.checks import load_library

    checks = load_library(app.settings.checks_dir, app.settings.project_root)

    def text() -> None:
        table(
            ["check", "severity", "category", "deep", "description"],
            [(c.id, c.severity, c.category, "yes" if c.deep else "", c.description) for c in checks],
        )

    listed = [{k: v for k, v in vars(c).items() if k != "sql"} for c in checks]
    if as_json and not app.json:
        from ops.cli._context import jsonable

        click.echo(json.dumps(jsonable(listed)))
        return
    app.emit(listed, text)


@click.command("check")
@click.option("--only", multiple=True, metavar="ID", help="Run only this check (repeatable).")
@click.option(
    "--category",
    multiple=True,
    type=click.Choice(["security", "integrity", "performance", "migration", "physical"]),
    help="Run only checks of this category (repeatable).",
)
@click.option("--schema", "schemas", multiple=True, metavar="NAME", help="Inspect this schema (repeatable).")
@click.option(
    "--deep", is_flag=True, help="Also run amcheck on every table and B-tree index (exit 7 on corruption)."
)
@fail_on_option("default: error, or fail_on in [tool.dbops.checks]")
@click.option("--allow-unknown", is_flag=True, help="Do not fail because a check could not run.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default=None, help="Output format."
)
@click.option("--list", "list_only", is_flag=True, help="List the checks; run nothing.")
@pass_app
@click.pass_context
def check_cmd(
    ctx: click.Context,
    app: AppContext,
    only: tuple[str, ...],
    category: tuple[str, ...],
    schemas: tuple[str, ...],
    deep: bool,
    fail_on: str | None,
    allow_unknown: bool,
    fmt: str | None,
    list_only: bool,
) -> None:
    """checks/*.sql and the built-in checks, in one read-only transaction.

    Exit 0 when nothing reaches --fail-on and every check ran, 1 on findings or a check
    that could not run (unknown), 7 when --deep finds corruption.
    """
    if list_only:
        if fmt == "sarif":
            raise ConfigError("SARIF reports findings, not the list of checks", "use --list --format json")
        _render_list(app, as_json=fmt == "json")
        return
    from ops.checks import load_check_config, run_checks

    config = load_check_config(
        app.settings, os.environ, schemas=schemas, fail_on=fail_on, allow_unknown=allow_unknown
    )
    from ops.db import connect

    conninfo = app.conninfo()
    with connect(conninfo) as conn:
        report = run_checks(
            conn, app.settings, config, conninfo=conninfo, only=only, categories=category, deep=deep
        )
    if fmt == "sarif":
        from ops.checks.sarif import to_sarif

        click.echo(json.dumps(to_sarif(report), indent=2))
    elif fmt == "json" or (fmt is None and app.json):
        from ops.cli._context import jsonable

        click.echo(json.dumps(jsonable(report)))
    elif app.verbosity >= 0:
        _render_text(report)
    ctx.exit(report.exit_code)
