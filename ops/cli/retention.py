"""Retention verbs: evict, archive (and archive restore), retention run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import click

from ops.cli._context import AppContext, Duration, dry_run_option, jsonable, pass_app, table
from ops.errors import ConfigError, Partial
from ops.retention import BatchReport, Listener, RunResult
from ops.vocabulary import parse_duration, parse_timestamp

_batch_size = click.option(
    "--batch-size", type=click.IntRange(min=1), help="Fixed rows per batch (default: adapts to batch_time)."
)
_max_runtime = click.option(
    "--max-runtime",
    type=Duration(),
    metavar="DURATION",
    help="Stop starting batches after this long (e.g. 90s, 10m; rules take turns); exit 6 if work is left.",
)


class _Output(Listener):
    """JSON lines per batch with --json, a progress bar on a terminal, text lines with -v."""

    def __init__(self, app: AppContext) -> None:
        self.app = app
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}  # by rule: a run's rules take their batches in turn
        self.bar = not app.json and app.verbosity >= 0 and sys.stdout.isatty()

    def __enter__(self) -> _Output:
        if self.bar:
            from rich.progress import Progress

            self.progress = Progress(transient=False)
            self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.progress is not None:
            self.progress.stop()

    def rule_started(self, rule: str, action: str, eligible: int) -> None:
        if self.progress is not None:
            self.tasks[rule] = self.progress.add_task(f"{rule} ({action})", total=max(eligible, 1))

    def warning(self, text: str) -> None:
        click.echo(f"Warning: {text}", err=True)

    def batch_done(self, report: BatchReport) -> None:
        if self.app.json:
            click.echo(json.dumps({"event": "batch", **jsonable(report)}))
        elif self.progress is not None:
            self.progress.advance(self.tasks[report.rule], report.rows)
        elif self.app.verbosity > 0:
            click.echo(
                f"{report.rule}: batch {report.batch} {report.action} {report.rows} rows "
                f"(limit {report.batch_size}) in {report.duration_ms:.1f} ms"
            )


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _backlog(result: RunResult) -> str:
    """The run's backlog, and each rule's share of it."""
    shares = ", ".join(f"{r.rule} {r.backlog}" for r in result.rules if r.backlog)
    return f"{result.backlog} ({shares})" if len(result.rules) > 1 and shares else str(result.backlog)


def _show(app: AppContext, result: RunResult) -> None:
    def text() -> None:
        table(
            ["rule", "action", "rows", "by table", "batches", "backlog", "oldest eligible", "p99 batch",
             "time", "stopped"],
            [
                (r.rule, ("would be " if r.dry_run else "") + r.action, r.rows,
                 " ".join(f"{t}={n}" for t, n in r.rows_by_table.items()), r.batches, r.backlog,
                 _age(r.oldest_eligible_age_s), "-" if r.p99_batch_ms is None else f"{r.p99_batch_ms:.0f} ms",
                 f"{r.duration_s:.1f} s", r.stopped)
                for r in result.rules
            ],
        )  # fmt: skip
        if result.dry_run:
            click.echo(f"dry run: {result.rows} rows would be done; nothing was changed")
        else:
            click.echo(
                f"{result.rows} rows done in {result.duration_s:.1f} s; backlog left: {_backlog(result)}"
            )

    app.emit({"event": "summary", **jsonable(result)}, text)
    for rule in result.rules:
        for unit in rule.skipped:
            line = f"Skipped: {rule.rule}: {unit.table} {unit.key} could not move: {unit.reason}"
            click.echo(line, err=True)
    if result.skipped:
        raise Partial(
            f"{len(result.skipped)} unit(s) could not move and were left where they are; "
            "every other unit and rule ran",
            "resolve each skipped row (its id is taken, or a constraint refuses it)",
        )
    if result.partial:
        left = ", ".join(f"{r.rule} {r.backlog} ({r.stopped})" for r in result.rules if r.stopped_early)
        raise Partial(
            f"stopped with {result.backlog} eligible rows left: {left}",
            "the next run picks them up; raise --max-runtime or run more often",
        )


def _run_rules(
    ctx: click.Context, app: AppContext, kind: str, name: str | None, older_than: str | None,
    batch_size: int | None, max_runtime: float | None, dry_run: bool,
) -> None:  # fmt: skip
    from dataclasses import replace

    from ops import retention

    rules = retention.select_rules(retention.configured_rules(app.settings.tool), name, kind)
    if older_than is not None:
        age = parse_duration(older_than, "--older-than")
        rules = [replace(r, older_than=age) for r in rules]
    run = retention.run_settings(app.settings.tool, max_runtime)
    with app.connect() as conn, _Output(app) as out:
        result = retention.apply_rules(
            conn, rules, run, lock_wait=app.settings.lock_wait, dry_run=dry_run, batch_size=batch_size,
            listener=out,
        )  # fmt: skip
    _show(app, result)


@click.command("evict")
@click.argument("rule", required=False)
@_batch_size
@_max_runtime
@dry_run_option
@pass_app
@click.pass_context
def evict_cmd(
    ctx: click.Context, app: AppContext, rule: str | None, batch_size: int | None, max_runtime: float | None,
    dry_run: bool,
) -> None:  # fmt: skip
    """The ttl rules (default: plan_cache, expires_at in the past).

    With RULE, only that rule. --dry-run counts what would be deleted.
    """
    _run_rules(ctx, app, "ttl", rule, None, batch_size, max_runtime, dry_run)


@click.command("archive")
@click.argument("words", nargs=-1, metavar="[RULE] | restore RULE --since T")
@click.option("--older-than", metavar="DURATION", help="Override the rule's age, e.g. 30d or 12h.")
@click.option(
    "--since", metavar="T", help="restore: rows archived at or after T (ISO time, or now-2h, or 2h)."
)
@click.option(
    "--skip-conflicts",
    is_flag=True,
    help="restore: leave units whose id is live again in the archive and restore the rest (exit 6).",
)
@_batch_size
@_max_runtime
@dry_run_option
@pass_app
@click.pass_context
def archive_cmd(
    ctx: click.Context, app: AppContext, words: tuple[str, ...], older_than: str | None, since: str | None,
    skip_conflicts: bool, batch_size: int | None, max_runtime: float | None, dry_run: bool,
) -> None:  # fmt: skip
    """`dbops archive [RULE]` moves rows of every archive rule (or one); `dbops archive restore
    RULE --since T` moves rows archived at or after T back to their sources, a session
    with its topics and misconceptions as one unit. A restore whose rows' ids are live
    again lists them and changes nothing (exit 4) unless --skip-conflicts. A unit that
    cannot move is skipped and named (exit 6). --dry-run counts what would move.
    """
    if words[:1] == ("restore",):
        if len(words) != 2 or since is None or older_than is not None:
            raise ConfigError(
                "usage: dbops archive restore RULE --since T", "e.g. dbops archive restore quizzes --since 2h"
            )
        _restore(ctx, app, words[1], since, skip_conflicts, batch_size, max_runtime, dry_run)
        return
    if len(words) > 1 or since is not None or skip_conflicts:
        raise ConfigError(
            "usage: dbops archive [RULE] [--older-than AGE]", "or: dbops archive restore RULE --since T"
        )
    _run_rules(ctx, app, "archive", words[0] if words else None, older_than, batch_size, max_runtime, dry_run)


def _restore(
    ctx: click.Context, app: AppContext, name: str, since: str, skip_conflicts: bool, batch_size: int | None,
    max_runtime: float | None, dry_run: bool,
) -> None:  # fmt: skip
    from ops import retention

    rule = retention.select_rules(retention.configured_rules(app.settings.tool), name, "archive")[0]
    when = parse_timestamp(since, "--since")
    run = retention.run_settings(app.settings.tool, max_runtime)
    with app.connect() as conn, _Output(app) as out:
        result = retention.restore_rule(
            conn, rule, when, run, lock_wait=app.settings.lock_wait, dry_run=dry_run, batch_size=batch_size,
            listener=out, skip_conflicts=skip_conflicts,
        )  # fmt: skip
    _show(app, result)


@click.group("retention")
def retention_group() -> None:
    """See `dbops retention run --help`."""


@retention_group.command("run")
@_max_runtime
@click.option(
    "--metrics-file", type=click.Path(dir_okay=False, path_type=Path), metavar="F",
    help="Write Prometheus text metrics to F (atomically, on every run, failures included).",
)  # fmt: skip
@_batch_size
@dry_run_option
@pass_app
@click.pass_context
def retention_run_cmd(
    ctx: click.Context, app: AppContext, max_runtime: float | None, metrics_file: Path | None,
    batch_size: int | None, dry_run: bool,
) -> None:  # fmt: skip
    """Run every configured rule (evict, then archive) under one lock: the command for cron.

    The rules take one batch each in turn, so they share --max-runtime; the summary gives
    each rule's backlog and names the rules that stopped early.

    Exit 0: done; 5: another run holds the lock (skip); 6: the time budget ran out with
    backlog left (the next run continues), or a unit could not move (named; every other
    unit and rule still ran).
    """
    from ops.retention import retention_run

    with _Output(app) as out:
        result = retention_run(
            app.connect, app.settings.tool, max_runtime=max_runtime, lock_wait=app.settings.lock_wait,
            dry_run=dry_run, batch_size=batch_size, listener=out, metrics_file=metrics_file,
        )  # fmt: skip
    _show(app, result)
