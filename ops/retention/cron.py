"""`dbops retention run` for cron: every rule under one lock, and a metrics file on every run.

The metrics file (Prometheus text format, for node_exporter's textfile collector, written
by `ops.metrics`: atomically, mode 0600) is written whether the run succeeded, ran out of
time, found another run holding the lock, or failed, so an alert on
`dbops_retention_last_run_success == 0` or on a growing backlog sees every outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ops.db import Conn
from ops.errors import ExitCode, exit_code_for
from ops.failpoints import failpoint
from ops.metrics import Sample, not_written, render, require_writable, write_textfile
from ops.retention.batches import Listener, RunResult, apply_rules
from ops.retention.rules import configured_rules, run_settings, select_rules

Connect = Callable[[], Conn]

HELP = {
    "dbops_retention_last_run_timestamp_seconds": "When the last retention run ended (unix time).",
    "dbops_retention_last_run_exit_code": (
        "Exit code of the last run (0 done, 5 busy, 6 backlog or skipped units left, ...)."
    ),
    "dbops_retention_last_run_success": "1 when the last run finished every rule, else 0.",
    "dbops_retention_last_run_duration_seconds": "Wall time of the last run.",
    "dbops_retention_rows": "Rows deleted, archived or restored by the last run (root rows of a unit).",
    "dbops_retention_table_rows": "Rows moved or deleted by the last run, per table.",
    "dbops_retention_backlog_rows": "Rows still eligible after the last run.",
    "dbops_retention_oldest_eligible_age_seconds": "Age of the oldest row still eligible (0: none).",
    "dbops_retention_batches": "Batches (transactions) of the last run.",
    "dbops_retention_batch_duration_p99_seconds": "99th percentile batch duration of the last run.",
    "dbops_retention_lock_timeouts": "Batches of the last run that hit lock_timeout and were retried.",
    "dbops_retention_rule_completed": "1 when the rule ran to the end of its eligible rows.",
    "dbops_retention_skipped_units": "Units (a row with its children) the last run could not move and left.",
}


def metric_samples(
    result: RunResult | None, exit_code: int, duration_s: float, ended_at: float
) -> list[Sample]:
    samples = [
        Sample("dbops_retention_last_run_timestamp_seconds", round(ended_at, 3)),
        Sample("dbops_retention_last_run_exit_code", exit_code),
        Sample("dbops_retention_last_run_success", 1 if exit_code == 0 else 0),
        Sample("dbops_retention_last_run_duration_seconds", round(duration_s, 3)),
    ]
    for rule in result.rules if result else ():
        name = {"rule": rule.rule}
        samples += [
            Sample("dbops_retention_rows", rule.rows, {**name, "action": rule.action}),
            *(
                Sample("dbops_retention_table_rows", rows, {**name, "table": table})
                for table, rows in rule.rows_by_table.items()
            ),
            Sample("dbops_retention_backlog_rows", rule.backlog, name),
            Sample("dbops_retention_oldest_eligible_age_seconds", rule.oldest_eligible_age_s or 0, name),
            Sample("dbops_retention_batches", rule.batches, name),
            Sample("dbops_retention_batch_duration_p99_seconds", (rule.p99_batch_ms or 0) / 1000, name),
            Sample("dbops_retention_lock_timeouts", rule.lock_timeouts, name),
            Sample("dbops_retention_rule_completed", 1 if rule.stopped == "done" else 0, name),
            Sample("dbops_retention_skipped_units", len(rule.skipped), name),
        ]
    return samples


def render_metrics(result: RunResult | None, exit_code: int, duration_s: float, ended_at: float) -> str:
    return render(metric_samples(result, exit_code, duration_s, ended_at), HELP)


def retention_run(
    connect: Connect,
    tool: Mapping[str, Any],
    *,
    max_runtime: float | None = None,
    lock_wait: float | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    listener: Listener | None = None,
    metrics_file: Path | None = None,
) -> RunResult:
    """Every configured rule under one retention lock; the metrics file is written however it ends."""
    started, result, code = time.monotonic(), None, int(ExitCode.OK)
    if dry_run:  # it changes nothing: recorded, it would hide a stopped cron job from its alerts
        metrics_file = None
    if metrics_file is not None:
        require_writable(metrics_file)
    listener = listener or Listener()
    try:
        run = run_settings(tool, max_runtime)
        rules = select_rules(configured_rules(tool), None)
        with connect() as conn:
            result = apply_rules(
                conn, rules, run, lock_wait=lock_wait, dry_run=dry_run, batch_size=batch_size,
                listener=listener, clock_start=started,
            )  # fmt: skip
        code = int(ExitCode.PARTIAL) if result.partial else int(ExitCode.OK)
    except BaseException as exc:
        _write_metrics(metrics_file, result, int(exit_code_for(exc)), started, listener)
        raise
    assert result is not None
    problem = _write_metrics(metrics_file, result, code, started, listener)
    return replace(result, metrics_error=problem) if problem else result


def _write_metrics(
    path: Path | None, result: RunResult | None, code: int, started: float, listener: Listener
) -> str:
    """Write the metrics file; a failure (a full disk) is reported, never raised over the run's outcome."""
    if path is None:
        return ""
    samples = metric_samples(result, code, time.monotonic() - started, time.time())
    failpoint("retention.metrics.write")
    try:
        write_textfile(path, samples, HELP)
    except OSError as exc:
        problem = not_written(path, exc)
        listener.warning(problem)
        return problem
    return ""
