"""TTL eviction and archival in short, self-sizing batches under the retention job lock.

Every batch is one transaction: rows the application holds are left for the next run
(FOR UPDATE SKIP LOCKED once the application was seen holding one), `lock_timeout` keeps a
batch from queueing behind the application's locks, and an archive batch deletes and
inserts in one statement, so a kill at any instant leaves each row in its source or in its
archive, never both or neither. The batch size adapts so that batches stay within
`batch_time` (100 ms).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import errors as pg_errors

from ops.db import Conn
from ops.errors import OperationFailed
from ops.failpoints import failpoint
from ops.locks import JobFamily, job_lock
from ops.retention import statements as q
from ops.retention import units
from ops.retention.rules import Rule, RunSettings, validate

START_BATCH = 500
MAX_BATCH = 100_000
MAX_LOCK_RETRIES = 5
CAREFUL_BATCHES = 20
AIM = 0.6


@dataclass(frozen=True)
class BatchReport:
    rule: str
    action: str
    batch: int
    rows: int  # root rows (a unit counts once)
    rows_by_table: dict[str, int]
    batch_size: int
    duration_ms: float


@dataclass(frozen=True)
class RuleResult:
    rule: str
    action: str  # deleted | archived | restored
    dry_run: bool
    rows: int  # done (or, with --dry-run, that would be done)
    rows_by_table: dict[str, int]
    batches: int
    eligible_at_start: int
    backlog: int  # eligible now, after the run
    oldest_eligible_age_s: float | None
    duration_s: float
    p99_batch_ms: float | None
    max_batch_ms: float | None
    lock_timeouts: int
    stopped: str  # done | time budget | lock timeouts | dry run


@dataclass(frozen=True)
class RunResult:
    rules: tuple[RuleResult, ...]
    duration_s: float
    dry_run: bool
    max_runtime_s: float | None
    started_at: str = ""

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.rules)

    @property
    def backlog(self) -> int:
        return sum(r.backlog for r in self.rules)

    @property
    def partial(self) -> bool:
        """The run stopped early (time budget, lock timeouts) with eligible rows left."""
        return any(r.stopped not in ("done", "dry run") and r.backlog > 0 for r in self.rules)


class Listener:
    """What a run reports as it goes; the CLI draws a progress bar or prints JSON lines."""

    def rule_started(self, rule: str, action: str, eligible: int) -> None:
        return None

    def batch_done(self, report: BatchReport) -> None:
        return None


@dataclass
class BatchSizer:
    """Grows or shrinks the batch so that one takes about `target_ms`; a fixed size stays."""

    target_ms: float
    size: int = START_BATCH
    fixed: bool = False
    durations: list[float] = field(default_factory=list)

    def record(self, duration_ms: float, full: bool) -> None:
        self.durations.append(duration_ms)
        if self.fixed or not full:
            return
        # aim below the budget so that the slow tail (p99), not the average, stays within it
        factor = min(2.0, max(0.5, AIM * self.target_ms / max(duration_ms, 0.1)))
        self.size = max(1, min(MAX_BATCH, int(self.size * factor)))

    def shrink(self) -> None:
        self.size = max(1, self.size // 2)


def p99(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2)


def _now(conn: Conn) -> datetime:
    row = conn.execute("select now()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def _configure_session(conn: Conn, run: RunSettings) -> None:
    conn.execute("select set_config('lock_timeout', %s, false)", (f"{run.lock_timeout_ms}ms",))
    conn.execute("select set_config('statement_timeout', %s, false)", (f"{run.statement_timeout_ms}ms",))


@dataclass
class _Runner:
    conn: Conn
    run: RunSettings
    listener: Listener
    deadline: float | None
    batch_size: int | None

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def loop(
        self, rule: str, action: str, step: Callable[[int, Any], tuple[int, int, dict[str, int], Any]]
    ) -> tuple[int, dict[str, int], BatchSizer, int, str]:
        """Run `step(limit, after) -> (selected, rows, rows_by_table, last)` batch by batch.

        A step is one transaction: a single statement in autocommit (one round trip), or
        its own `conn.transaction()` block.
        """
        sizer = BatchSizer(
            self.run.batch_time_ms, self.batch_size or START_BATCH, self.batch_size is not None
        )
        rows, by_table, after, timeouts, retries = 0, dict[str, int](), None, 0, 0
        while True:
            if self.out_of_time():
                return rows, by_table, sizer, timeouts, "time budget"
            limit = sizer.size
            started = time.perf_counter()
            failpoint("retention.batch.start")
            try:
                selected, done, moved, last = step(limit, after)
            except (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected):
                timeouts, retries = timeouts + 1, retries + 1
                if retries > MAX_LOCK_RETRIES:
                    return rows, by_table, sizer, timeouts, "lock timeouts"
                time.sleep(min(1.0, 0.05 * 2**retries))
                continue
            except pg_errors.QueryCanceled as exc:
                if limit == 1:
                    raise OperationFailed(
                        f"retention.{rule}: one row took longer than statement_timeout",
                        "raise [tool.dbops.retention] statement_timeout, or check the table's indexes",
                    ) from exc
                sizer.shrink()
                continue
            failpoint("retention.batch.committed")
            retries = 0
            elapsed = (time.perf_counter() - started) * 1000
            sizer.record(elapsed, full=selected >= limit)
            rows += done
            for table, n in moved.items():
                by_table[table] = by_table.get(table, 0) + n
            self.listener.batch_done(
                BatchReport(rule, action, len(sizer.durations), done, moved, limit, round(elapsed, 2))
            )
            stuck = done == 0 and (last is None or last == after)  # only rows left for the next run
            after = last if last is not None else after
            if selected < limit or stuck:
                return rows, by_table, sizer, timeouts, "done"
            if self.run.batch_pause_ms:
                time.sleep(self.run.batch_pause_ms / 1000)  # throttle: leave the server to the application


def _backlog(conn: Conn, rule: Rule) -> tuple[int, float | None, datetime]:
    now = _now(conn)
    query, params = q.count_eligible(rule, _cutoff(rule, now))
    with conn.transaction():
        # a count over a large backlog may take longer than one batch may
        conn.execute("select set_config('statement_timeout', '0', true)")
        row = conn.execute(query, params).fetchone()
    assert row is not None
    count, oldest = int(row[0]), row[1]
    age = None
    if isinstance(oldest, datetime):
        age = round((now - oldest).total_seconds(), 3)
    return count, age, now


def _cutoff(rule: Rule, now: datetime) -> datetime:
    return now - rule.older_than if rule.older_than is not None else now


def _apply_rule(runner: _Runner, rule: Rule, dry_run: bool) -> RuleResult:
    conn, started = runner.conn, time.perf_counter()
    action = "deleted" if rule.kind == "ttl" else "archived"
    eligible, _, now = _backlog(conn, rule)
    runner.listener.rule_started(rule.name, action, eligible)
    cutoff = _cutoff(rule, now)
    if dry_run:
        by_table = {rule.table: eligible}
        if rule.children:
            by_table = units.count_units(conn, units.archive_plan(rule, cutoff))
        backlog, age, _ = _backlog(conn, rule)
        return RuleResult(rule.name, action, True, eligible, by_table, 0, eligible, backlog, age,
                          round(time.perf_counter() - started, 3), None, None, 0, "dry run")  # fmt: skip

    build = q.delete_batch if rule.kind == "ttl" else q.archive_batch
    careful_left = [0]  # batches to run with SKIP LOCKED since the application last held a row

    def simple(limit: int, after: Any) -> tuple[int, int, dict[str, int], Any]:
        # one statement, so one transaction in autocommit: a single round trip per batch
        row = None
        if careful_left[0] == 0:
            try:
                row = conn.execute(*build(rule, cutoff, after, limit, skip_locked=False)).fetchone()
            except pg_errors.LockNotAvailable:
                careful_left[0] = CAREFUL_BATCHES
        if row is None:
            careful_left[0] -= 1
            row = conn.execute(*build(rule, cutoff, after, limit, skip_locked=True)).fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), {rule.table: int(row[1])}, row[2]

    plan = units.archive_plan(rule, cutoff) if rule.children else None

    def unit(limit: int, after: Any) -> tuple[int, int, dict[str, int], Any]:
        assert plan is not None
        with conn.transaction():
            batch = units.move_units(conn, plan, limit, after)
            failpoint("retention.batch.uncommitted")
        return batch.selected, batch.moved.get(rule.table, 0), batch.moved, batch.last_order_value

    rows, by_table, sizer, timeouts, stopped = runner.loop(rule.name, action, unit if plan else simple)
    backlog, age, _ = _backlog(conn, rule)
    return _result(
        rule.name, action, rows, by_table, sizer, eligible, backlog, age, started, timeouts, stopped
    )


def _result(
    name: str, action: str, rows: int, by_table: dict[str, int], sizer: BatchSizer, eligible: int,
    backlog: int, age: float | None, started: float, timeouts: int, stopped: str,
) -> RuleResult:  # fmt: skip
    return RuleResult(
        name, action, False, rows, by_table, len(sizer.durations), eligible, backlog, age,
        round(time.perf_counter() - started, 3), p99(sizer.durations),
        round(max(sizer.durations), 2) if sizer.durations else None, timeouts, stopped,
    )  # fmt: skip


def apply_rules(
    conn: Conn,
    rules: Sequence[Rule],
    run: RunSettings,
    *,
    lock_wait: float | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    listener: Listener | None = None,
    clock_start: float | None = None,
) -> RunResult:
    """Validate every rule against the catalog, take the retention lock, run the rules in order."""
    started = clock_start if clock_start is not None else time.monotonic()
    checked = [validate(conn, rule) for rule in rules]
    deadline = started + run.max_runtime_s if run.max_runtime_s is not None else None
    started_at = _now(conn).isoformat()
    with job_lock(conn, JobFamily.RETENTION, lock_wait):
        _configure_session(conn, run)
        runner = _Runner(conn, run, listener or Listener(), deadline, batch_size)
        results = [_apply_rule(runner, rule, dry_run) for rule in checked]
    return RunResult(
        tuple(results), round(time.monotonic() - started, 3), dry_run, run.max_runtime_s, started_at
    )


def restore_rule(
    conn: Conn,
    rule: Rule,
    since: datetime,
    run: RunSettings,
    *,
    lock_wait: float | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    listener: Listener | None = None,
) -> RunResult:
    """Move rows archived at or after `since` back to their sources, unit by unit."""
    started = time.monotonic()
    rule = validate(conn, rule)
    if rule.kind != "archive":
        from ops.errors import ConfigError

        raise ConfigError(
            f"rule {rule.name!r} deletes rows; there is nothing to restore", "restore an archive rule"
        )
    started_at = _now(conn).isoformat()
    plan = units.restore_plan(rule, since)
    deadline = started + run.max_runtime_s if run.max_runtime_s is not None else None
    with job_lock(conn, JobFamily.RETENTION, lock_wait):
        _configure_session(conn, run)
        runner = _Runner(conn, run, listener or Listener(), deadline, batch_size)
        t0 = time.perf_counter()
        waiting = units.count_units(conn, plan)
        eligible = waiting.get(rule.table, 0)
        runner.listener.rule_started(rule.name, "restored", eligible)
        if dry_run:
            result = RuleResult(rule.name, "restored", True, eligible, waiting, 0, eligible, eligible, None,
                                round(time.perf_counter() - t0, 3), None, None, 0, "dry run")  # fmt: skip
        else:

            def step(limit: int, after: Any) -> tuple[int, int, dict[str, int], Any]:
                with conn.transaction():
                    batch = units.move_units(conn, plan, limit, after)
                    failpoint("retention.batch.uncommitted")
                return batch.selected, batch.moved.get(rule.table, 0), batch.moved, batch.last_order_value

            rows, by_table, sizer, timeouts, stopped = runner.loop(rule.name, "restored", step)
            left = units.count_units(conn, plan).get(rule.table, 0)
            result = _result(
                rule.name, "restored", rows, by_table, sizer, eligible, left, None, t0, timeouts, stopped
            )
    return RunResult((result,), round(time.monotonic() - started, 3), dry_run, run.max_runtime_s, started_at)
