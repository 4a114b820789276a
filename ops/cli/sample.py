"""`dbops sample-data`: realistic rows for every table, loaded with COPY."""

from __future__ import annotations

from datetime import datetime

import click

from ops.cli._context import AppContext, dry_run_option, pass_app, table


@click.command("sample-data")
@click.option("--users", type=click.IntRange(min=1), required=True, help="How many users to create.")
@click.option(
    "--expired-fraction",
    type=click.FloatRange(0.0, 1.0),
    default=0.3,
    show_default=True,
    help="Share of plan_cache rows already expired.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same rows.")
@click.option(
    "--anchor",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d"]),
    help="Time the data is generated 'as of' (default: now); with --seed it fixes every value.",
)
@click.option("--skip-loaded", is_flag=True, help="Exit 0 without loading when this seed is already loaded.")
@dry_run_option
@pass_app
def sample_data_cmd(
    app: AppContext,
    users: int,
    expired_fraction: float,
    seed: int,
    anchor: datetime | None,
    skip_loaded: bool,
    dry_run: bool,
) -> None:
    """Into every table, in one transaction.

    Per user: 1-3 study sessions, 3-9 topics each, 0-4 quizzes and a tutor chat in 40% of
    topics, misconceptions, and one plan_cache row per two users. A user is about 60 rows.
    """
    from datetime import UTC

    from ops.sample import load_sample_data

    if anchor is not None and anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=UTC)
    with app.connect() as conn:
        report = load_sample_data(
            conn,
            users,
            seed=seed,
            expired_fraction=expired_fraction,
            anchor=anchor,
            dry_run=dry_run,
            skip_loaded=skip_loaded,
        )

    def text() -> None:
        if report.skipped:
            click.echo(f"sample data of seed {report.seed} is already loaded; nothing to do")
            return
        table(["table", "rows"], list(report.rows.items()))
        verb = "would load" if report.dry_run else "loaded"
        click.echo(
            f"{verb} {report.total_rows} rows for {report.users} users (seed {report.seed}) in "
            f"{report.seconds:.1f} s, {report.rows_per_second:.0f} rows/s; "
            f"{report.expired_plans} of {report.rows['plan_cache']} cached plans expired"
        )
        if report.dry_run:
            click.echo("dry run: rolled back, nothing was changed")

    app.emit(report, text)
