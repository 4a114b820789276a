"""Migration verbs: migrate, rollback, status, new, mark, unmark, verify, unlock."""

from __future__ import annotations

from typing import Any

import click

from ops.cli._context import AppContext, confirm, dry_run_option, pass_app, table, yes_option
from ops.errors import ExitCode


def _show_run(app: AppContext, report: Any) -> None:
    def text() -> None:
        verb = {"apply": "applied", "rollback": "rolled back"}.get(report.direction, report.direction + "ed")
        for step in report.steps:
            if report.dry_run:
                click.echo(f"-- would {step.direction} {step.id}" + (f" ({step.note})" if step.note else ""))
                if app.verbosity >= 0:
                    for statement in step.sql:
                        click.echo(statement)
                    click.echo()
            else:
                click.echo(
                    f"{verb} {step.id}"
                    + (f" in {step.duration_ms} ms" if step.duration_ms else "")
                    + (f" ({step.note})" if step.note else "")
                )
        for note in report.notes:
            click.echo(f"note: {note}")
        if not report.steps:
            click.echo("nothing to do")
        elif report.dry_run:
            click.echo(f"dry run: {len(report.steps)} migration(s) would be {verb}; nothing was changed")

    app.emit(report, text)


@click.command("migrate")
@click.option("--to", "to", metavar="ID", help="Stop after this migration (id or number).")
@dry_run_option
@pass_app
def migrate_cmd(app: AppContext, to: str | None, dry_run: bool) -> None:
    """Migrations run in order; then every policy file that is new, edited or no longer matches
    the live policies is re-applied.

    --dry-run runs the transactional migrations in a transaction that is rolled back and
    prints their SQL.
    """
    from ops.deploy import deploy

    with app.connect() as conn:
        report = deploy(conn, app.settings, to=to, dry_run=dry_run)
    _show_run(app, report)


@click.command("rollback")
@click.option("--steps", type=int, help="Roll back the newest N migrations.")
@click.option("--to", "to", metavar="ID", help="Roll back every migration after ID.")
@click.option("--all", "everything", is_flag=True, help="Roll back every applied migration.")
@dry_run_option
@yes_option
@pass_app
def rollback_cmd(
    app: AppContext, steps: int | None, to: str | None, everything: bool, dry_run: bool, yes: bool
) -> None:
    """Newest first, each with its .rollback.sql; the managed tables' policies step aside
    around it and what still applies is put back."""
    from ops import migrations
    from ops.deploy import undeploy
    from ops.migrations import history, read_migration_dir

    with app.connect() as conn:
        if not dry_run:
            plan = migrations.plan_rollback(
                read_migration_dir(app.settings.migrations_dir),
                history.read_applied(conn),
                steps=steps,
                to=to,
                everything=everything,
            )
            if plan:
                confirm(f"Roll back {', '.join(m.id for m in plan)}?", yes)
        report = undeploy(conn, app.settings, steps=steps, to=to, everything=everything, dry_run=dry_run)
    _show_run(app, report)


@click.command("status")
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything is pending, edited or missing.")
@pass_app
@click.pass_context
def status_cmd(ctx: click.Context, app: AppContext, exit_code: bool) -> None:
    """Each migration is applied, pending, edited (changed since it was applied) or
    missing-file (applied, but its file is gone)."""
    from ops import migrations

    with app.connect() as conn:
        report = migrations.status(conn, app.settings)

    def text() -> None:
        table(
            ["migration", "state", "applied at", "note"],
            [(m.id, m.state, m.applied_at, m.note) for m in report.migrations],
        )
        counts = ", ".join(
            f"{report.count(s)} {s}"
            for s in ("applied", "pending", "edited", "missing-file")
            if report.count(s)
        )
        click.echo(f"{counts or 'no migrations'}; head: {report.head or 'none'}")

    app.emit(report, text)
    if exit_code and report.needs_attention:
        ctx.exit(int(ExitCode.FINDINGS))


@click.command("new")
@click.argument("name")
@click.option("--non-transactional", is_flag=True, help="For statements that cannot run in a transaction.")
@pass_app
def new_cmd(app: AppContext, name: str, non_transactional: bool) -> None:
    """Writes migrations/NNNN_NAME.sql and NNNN_NAME.rollback.sql."""
    from ops.migrations import new_migration

    paths = new_migration(app.settings.migrations_dir, name, transactional=not non_transactional)

    def text() -> None:
        for path in paths:
            click.echo(f"created {path}")

    app.emit({"created": [str(p) for p in paths]}, text)


@click.command("mark")
@click.argument("ids", nargs=-1, required=True)
@click.option("--rehash", is_flag=True, help="Accept the current content of applied, edited files.")
@dry_run_option
@pass_app
def mark_cmd(app: AppContext, ids: tuple[str, ...], rehash: bool, dry_run: bool) -> None:
    """Baselines an existing database: the history records them, their SQL does not run."""
    from ops import migrations

    with app.connect() as conn:
        report = migrations.mark(conn, app.settings, ids, rehash=rehash, dry_run=dry_run)
    _show_run(app, report)


@click.command("unmark")
@click.argument("ids", nargs=-1, required=True)
@dry_run_option
@pass_app
def unmark_cmd(app: AppContext, ids: tuple[str, ...], dry_run: bool) -> None:
    """The history forgets them; their rollback files do not run."""
    from ops import migrations

    with app.connect() as conn:
        report = migrations.unmark(conn, app.settings, ids, dry_run=dry_run)
    _show_run(app, report)


@click.command("verify")
@pass_app
@click.pass_context
def verify_cmd(ctx: click.Context, app: AppContext) -> None:
    """Every migration in turn, on a scratch database, with the schemas compared after each step."""
    from ops.migrations import verify

    report = verify(app.conninfo(), app.settings)

    def text() -> None:
        for step in report.steps:
            click.echo(
                f"{'ok  ' if step.ok else 'FAIL'} {step.id}" + (f": {step.problem}" if step.problem else "")
            )
        click.echo(
            "every migration applies, rolls back and re-applies to the same schema"
            if report.ok
            else "verify found problems"
        )

    app.emit(report, text)
    if not report.ok:
        ctx.exit(int(ExitCode.FINDINGS))


@click.command("unlock")
@dry_run_option
@pass_app
def unlock_cmd(app: AppContext, dry_run: bool) -> None:
    """A holder shows as pid, application, client and since.

    dbops' own locks are advisory: the server releases them when their session ends.
    """
    from ops.migrations import unlock

    with app.connect() as conn:
        report = unlock(conn, dry_run=dry_run)

    def text() -> None:
        if report.holders:
            table(
                ["lock", "pid", "application", "client", "since", "state"],
                [(h.family, h.pid, h.application_name, h.client, h.since, h.state) for h in report.holders],
            )
        else:
            click.echo("no dbops lock is held")
        if report.yoyo_rows_cleared:
            verb = "would clear" if dry_run else "cleared"
            click.echo(f"{verb} yoyo lock rows of ended processes: {list(report.yoyo_rows_cleared)}")

    app.emit(report, text)
