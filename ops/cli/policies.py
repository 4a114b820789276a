"""Policy verbs: `dbops policies apply|diff`."""

from __future__ import annotations

import click

from ops.cli._context import AppContext, dry_run_option, pass_app
from ops.errors import ExitCode


@click.group("policies")
def policies() -> None:
    """One file per table, applied declaratively.

    A table's live policies become exactly its file's; other policies on it are dropped.
    """


@policies.command("apply")
@dry_run_option
@pass_app
def apply_cmd(app: AppContext, dry_run: bool) -> None:
    """Apply every policy file in one transaction under the migrate lock.

    --dry-run runs the same statements in a transaction that is rolled back. Prints the
    tables that change; -v lists every file.
    """
    from ops import policies as lib

    with app.connect() as conn:
        report = lib.apply(conn, app.settings, dry_run=dry_run)

    def text() -> None:
        verb = "would apply" if dry_run else "applied"
        for f in report.files:
            if not f.changed and app.verbosity <= 0:
                continue  # -v lists every file
            detail = []
            if f.dropped:
                detail.append("drops " + ", ".join(f'"{n}"' for n in f.dropped))
            if f.created:
                detail.append("creates " + ", ".join(f'"{n}"' for n in f.created))
            click.echo(f"{verb} {f.file} to {f.table}: " + ("; ".join(detail) or "no change"))
        for note in report.notes:
            click.echo(f"note: {note}")
        changed = sum(1 for f in report.files if f.changed)
        tail = "; dry run: nothing was changed" if dry_run else ""
        click.echo(f"{len(report.files)} policy file(s), {changed} table(s) changed{tail}")

    app.emit(report, text)


@policies.command("diff")
@pass_app
@click.pass_context
def diff_cmd(ctx: click.Context, app: AppContext) -> None:
    """Show live-vs-file differences per table; exit 1 when there are any."""
    from ops import policies as lib

    with app.connect() as conn:
        result = lib.diff(conn, app.settings)

    def text() -> None:
        for d in result.differences:
            click.echo(d.describe())
        for name in result.evaluated:
            click.echo(f"note: {name} is new or changed since its last apply (evaluated, then rolled back)")
        if result.differences:
            click.echo(
                f"{len(result.differences)} difference(s) in {len(result.tables)} managed table(s); "
                "`dbops policies apply` makes the live policies match the files"
            )
        else:
            click.echo(f"no differences: live policies match policies/ ({len(result.tables)} tables)")

    app.emit(result, text)
    if result.differences:
        ctx.exit(int(ExitCode.FINDINGS))
