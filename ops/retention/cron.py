"""`dbops retention run` for cron: every rule under one lock, and a metrics file on every run.

The metrics file (Prometheus text format, for node_exporter's textfile collector) is
written atomically (temporary file, fsync, rename) whether the run succeeded, ran out of
time, found another run holding the lock, or failed, so an alert on
`dbops_retention_last_run_success == 0` or on a growing backlog sees every outcome.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ops.db import Conn
from ops.errors import ConfigError, ExitCode, exit_code_for
from ops.failpoints import failpoint
from ops.retention.batches import Listener, RunResult, apply_rules
from ops.retention.rules import configured_rules, run_settings, select_rules

Connect = Callable[[], Conn]

_HELP = {
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


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render_metrics(result: RunResult | None, exit_code: int, duration_s: float, ended_at: float) -> str:
    samples: dict[str, list[tuple[str, float]]] = {name: [] for name in _HELP}

    def add(name: str, value: float, **labels: str) -> None:
        text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        samples[name].append((f"{{{text}}}" if text else "", value))

    add("dbops_retention_last_run_timestamp_seconds", round(ended_at, 3))
    add("dbops_retention_last_run_exit_code", exit_code)
    add("dbops_retention_last_run_success", 1 if exit_code == 0 else 0)
    add("dbops_retention_last_run_duration_seconds", round(duration_s, 3))
    for rule in result.rules if result else ():
        add("dbops_retention_rows", rule.rows, rule=rule.rule, action=rule.action)
        for table, rows in rule.rows_by_table.items():
            add("dbops_retention_table_rows", rows, rule=rule.rule, table=table)
        add("dbops_retention_backlog_rows", rule.backlog, rule=rule.rule)
        add("dbops_retention_oldest_eligible_age_seconds", rule.oldest_eligible_age_s or 0, rule=rule.rule)
        add("dbops_retention_batches", rule.batches, rule=rule.rule)
        add("dbops_retention_batch_duration_p99_seconds", (rule.p99_batch_ms or 0) / 1000, rule=rule.rule)
        add("dbops_retention_lock_timeouts", rule.lock_timeouts, rule=rule.rule)
        add("dbops_retention_rule_completed", 1 if rule.stopped == "done" else 0, rule=rule.rule)
        add("dbops_retention_skipped_units", len(rule.skipped), rule=rule.rule)
    lines = []
    for name, values in samples.items():
        if not values:
            continue
        lines += [f"# HELP {name} {_HELP[name]}", f"# TYPE {name} gauge"]
        lines += [f"{name}{labels} {_number(value)}" for labels, value in values]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    path = path.resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


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
    if metrics_file is not None and not os.access(metrics_file.resolve().parent, os.W_OK):
        raise ConfigError(
            f"cannot write the metrics file {metrics_file}: its directory is missing or read-only",
            "create the directory or pass another --metrics-file",
        )
    try:
        run = run_settings(tool, max_runtime)
        rules = select_rules(configured_rules(tool), None)
        with connect() as conn:
            result = apply_rules(
                conn, rules, run, lock_wait=lock_wait, dry_run=dry_run, batch_size=batch_size,
                listener=listener, clock_start=started,
            )  # fmt: skip
        code = int(ExitCode.PARTIAL) if result.partial else int(ExitCode.OK)
        return result
    except BaseException as exc:
        code = int(exit_code_for(exc))
        raise
    finally:
        if metrics_file is not None:
            text = render_metrics(result, code, time.monotonic() - started, time.time())
            failpoint("retention.metrics.write")
            write_atomically(metrics_file, text)
