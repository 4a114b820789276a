"""TTL eviction and archival in short, self-sizing batches under the retention job lock.

Every batch is one transaction: rows the application holds are left for the next run
(FOR UPDATE SKIP LOCKED once the application was seen holding one), `lock_timeout` keeps a
batch from queueing behind the application's locks, and an archive batch deletes and
inserts in one statement, so a kill at any instant leaves each row in its source or in its
archive, never both or neither. The batch size adapts so that batches stay within
`batch_time` (100 ms).

A unit that cannot move (its id already archived, a constraint) is skipped and reported
by table and key; the rest of the rule and every other rule still run, and the run counts
as partial (exit 6) so that cron and the metrics show something was left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from ops.db import Conn
from ops.errors import ConfigError, OperationFailed
from ops.failpoints import failpoint
from ops.locks import JobFamily, job_lock
from ops.retention import statements as q
from ops.retention import units
from ops.retention.rules import Rule, RunSettings, validate
from ops.retention.units import Skipped
from ops.retry import backoff_delay, elapsed_s

START_BATCH = 500
MAX_BATCH = 100_000
MAX_LOCK_RETRIES = 5
CAREFUL_BATCHES = 20
AIM = 0.6


Action = Literal["deleted", "archived", "restored"]
Stopped = Literal["done", "time budget", "lock timeouts", "dry run"]


@dataclass(frozen=True)
class BatchReport:
    rule: str
    action: str
    batch: int
    rows: int  # root rows (a unit counts once)
    rows_by_table: dict[str, int]
    batch_size: int
    duration_ms: float


@dataclass(frozen=True, kw_only=True)
class RuleResult:
    rule: str
    action: Action
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
    stopped: Stopped
    skipped: tuple[Skipped, ...] = ()  # units that could not move, left where they are

    @property
    def stopped_early(self) -> bool:
        """The rule did not reach the end of its eligible rows (time budget, lock timeouts)."""
        return self.stopped == "lock timeouts" or (
            self.stopped not in ("done", "dry run") and self.backlog > 0
        )


@dataclass(frozen=True)
class RunResult:
    rules: tuple[RuleResult, ...]
    duration_s: float
    dry_run: bool
    max_runtime_s: float | None
    started_at: str = ""
    metrics_error: str = ""  # why the metrics file could not be written (the run's outcome stands)

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.rules)

    @property
    def backlog(self) -> int:
        return sum(r.backlog for r in self.rules)

    @property
    def skipped(self) -> tuple[Skipped, ...]:
        return tuple(s for r in self.rules for s in r.skipped)

    @property
    def stopped_early(self) -> tuple[str, ...]:
        """The rules that stopped (time budget, lock timeouts) with eligible rows left."""
        return tuple(r.rule for r in self.rules if r.stopped_early)

    @property
    def partial(self) -> bool:
        """Work was left: a rule stopped early with eligible rows left, or some unit could not move."""
        return bool(self.stopped_early) or bool(self.skipped)


class Listener:
    """What a run reports as it goes; the CLI draws a progress bar or prints JSON lines."""

    def rule_started(self, rule: str, action: str, eligible: int) -> None:
        return None

    def batch_done(self, report: BatchReport) -> None:
        return None

    def warning(self, text: str) -> None:
        """Something went wrong beside the run (its metrics file), not in it."""
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


@contextmanager
def _job_timeouts(conn: Conn, run: RunSettings) -> Iterator[None]:
    """The run's lock_timeout and statement_timeout for its own session, reset when it ends.

    The operator's path keeps one server session for the run (its job lock verifies it),
    so no other client's statement sees them; the reset leaves the session as it was.
    """
    conn.execute(
        "select set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
        (f"{run.lock_timeout_ms}ms", f"{run.statement_timeout_ms}ms"),
    )
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            if conn.info.transaction_status == TransactionStatus.INERROR:
                conn.rollback()  # a failed batch's transaction; a caller's open one is the caller's
            conn.execute("reset lock_timeout; reset statement_timeout")


Batch = tuple[int, int, dict[str, int], Any, int]  # selected, done, rows by table, last, skipped
Clock = Callable[[], float]  # seconds, as time.monotonic (tests pass one they move themselves)


@dataclass
class _RuleLoop:
    """Where one rule's batches stand: a run gives its rules one batch each in turn.

    `step(limit, after) -> (selected, rows, rows_by_table, last, units skipped)` is one
    transaction: a single statement in autocommit (one round trip), or its own
    `conn.transaction()` block.
    """

    rule: str
    action: Action
    step: Callable[[int, Any], Batch]
    sizer: BatchSizer
    eligible_at_start: int
    skipped: list[Skipped] = field(default_factory=list)
    rows: int = 0
    by_table: dict[str, int] = field(default_factory=dict)
    after: Any = None
    timeouts: int = 0
    retries: int = 0
    spent_s: float = 0.0  # the rule's own work: its counts, batches and backoff
    stopped: Stopped | None = None


@dataclass
class _Runner:
    conn: Conn
    run: RunSettings
    listener: Listener
    deadline: float | None
    batch_size: int | None
    clock: Clock = time.monotonic

    def out_of_time(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline

    def new_loop(
        self, rule: str, action: Action, step: Callable[[int, Any], Batch], eligible: int
    ) -> _RuleLoop:
        sizer = BatchSizer(
            self.run.batch_time_ms, self.batch_size or START_BATCH, self.batch_size is not None
        )
        return _RuleLoop(rule, action, step, sizer, eligible)

    def take_turns(self, loops: Sequence[_RuleLoop]) -> None:
        """One batch of each unfinished rule in turn, until every rule is done or the time
        budget is spent: a rule with a large backlog cannot starve the rules after it, and
        when the budget runs out each rule has had about the same number of batches."""
        while pending := [loop for loop in loops if loop.stopped is None]:
            for loop in pending:
                if self.out_of_time():
                    for left in pending:
                        left.stopped = left.stopped or "time budget"
                    return
                started = time.perf_counter()
                self.turn(loop)
                loop.spent_s += time.perf_counter() - started

    def turn(self, loop: _RuleLoop) -> None:
        """One batch of the rule (or one try that hit a lock or statement timeout); sets
        `loop.stopped` when the rule has nothing left or gives up."""
        sizer, limit = loop.sizer, loop.sizer.size
        started = time.perf_counter()
        failpoint("retention.batch.start")
        try:
            selected, done, moved, last, skipped = loop.step(limit, loop.after)
        except (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected):
            loop.timeouts, loop.retries = loop.timeouts + 1, loop.retries + 1
            if loop.retries > MAX_LOCK_RETRIES:
                loop.stopped = "lock timeouts"
            else:
                time.sleep(backoff_delay(loop.retries, first=0.05, cap=1.0))
            return
        except pg_errors.QueryCanceled as exc:
            if limit == 1:
                raise OperationFailed(
                    f"retention.{loop.rule}: one row took longer than statement_timeout",
                    "raise [tool.dbops.retention] statement_timeout, or check the table's indexes",
                ) from exc
            sizer.shrink()
            return
        failpoint("retention.batch.committed")
        loop.retries = 0
        elapsed = (time.perf_counter() - started) * 1000
        sizer.record(elapsed, full=selected >= limit)
        loop.rows += done
        for table, n in moved.items():
            loop.by_table[table] = loop.by_table.get(table, 0) + n
        self.listener.batch_done(
            BatchReport(loop.rule, loop.action, len(sizer.durations), done, moved, limit, round(elapsed, 2))
        )
        # only rows left for the next run (a batch that skipped units made progress)
        stuck = done == 0 and skipped == 0 and (last is None or last == loop.after)
        loop.after = last if last is not None else loop.after
        if selected < limit or stuck:
            loop.stopped = "done"
        elif self.run.batch_pause_ms:
            time.sleep(self.run.batch_pause_ms / 1000)  # throttle: leave the server to the application


def _backlog(conn: Conn, rule: Rule) -> tuple[int | None, float | None, datetime]:
    """The rule's eligible rows and the age of the oldest; (None, None, now) when the table is
    locked past lock_timeout (the application holds it): the rule is then reported as
    stopped on lock timeouts, and the other rules still run."""
    now = _now(conn)
    query, params = q.count_eligible(rule, _cutoff(rule, now))
    try:
        with conn.transaction():
            # a count over a large backlog may take longer than one batch may
            conn.execute("select set_config('statement_timeout', '0', true)")
            row = conn.execute(query, params).fetchone()
    except pg_errors.LockNotAvailable:
        return None, None, now
    assert row is not None
    count, oldest = int(row[0]), row[1]
    age = None
    if isinstance(oldest, datetime):
        age = round((now - oldest).total_seconds(), 3)
    return count, age, now


def _cutoff(rule: Rule, now: datetime) -> datetime:
    return now - rule.older_than if rule.older_than is not None else now


def _action(rule: Rule) -> Action:
    return "deleted" if rule.kind == "ttl" else "archived"


def _dry_run_rule(runner: _Runner, rule: Rule) -> RuleResult:
    conn, started = runner.conn, time.perf_counter()
    counted, _, now = _backlog(conn, rule)
    eligible = counted or 0  # a locked table: nothing can be planned; the rule shows 0
    runner.listener.rule_started(rule.name, _action(rule), eligible)
    by_table = {rule.table: eligible}
    if rule.children and counted is not None:
        by_table = units.count_units(conn, units.archive_plan(rule, _cutoff(rule, now)))
    backlog, age, _ = _backlog(conn, rule)
    return _dry_run_result(rule.name, _action(rule), by_table, eligible, backlog or 0, age, started)


def _rule_loop(runner: _Runner, rule: Rule) -> _RuleLoop:
    """The rule's eligible count at the start and its batch step, ready for its first turn."""
    conn, started = runner.conn, time.perf_counter()
    counted, _, now = _backlog(conn, rule)
    eligible = counted or 0
    runner.listener.rule_started(rule.name, _action(rule), eligible)
    cutoff = _cutoff(rule, now)
    build = q.delete_batch if rule.kind == "ttl" else q.archive_batch
    careful_left = [0]  # batches to run with SKIP LOCKED since the application last held a row
    skipped: list[Skipped] = []
    plan = units.archive_plan(rule, cutoff) if rule.kind == "archive" else None
    by_units = [bool(rule.children)]  # an archive batch that hit a bad unit moves unit by unit

    def unit(limit: int, after: Any) -> Batch:
        assert plan is not None
        if isinstance(after, tuple):  # from a batch statement: (order value, key)
            after = after[0]
        with conn.transaction():
            batch = units.move_units(conn, plan, limit, after, [s.key for s in skipped])
            failpoint("retention.batch.uncommitted")
        skipped.extend(batch.skipped)
        moved = batch.moved.get(rule.table, 0)
        return batch.selected, moved, batch.moved, batch.last_order_value, len(batch.skipped)

    def simple(limit: int, after: Any) -> Batch:
        # one statement, so one transaction in autocommit: a single round trip per batch
        if by_units[0]:
            return unit(limit, after)
        row = None
        try:
            if careful_left[0] == 0:
                try:
                    row = conn.execute(*build(rule, cutoff, after, limit, skip_locked=False)).fetchone()
                except pg_errors.LockNotAvailable:
                    careful_left[0] = CAREFUL_BATCHES
            if row is None:
                careful_left[0] -= 1
                row = conn.execute(*build(rule, cutoff, after, limit, skip_locked=True)).fetchone()
        except pg_errors.IntegrityError:
            if plan is None:  # a ttl delete refused by a constraint: nothing to skip around
                raise
            by_units[0] = True
            return unit(limit, after)
        assert row is not None
        last = None if row[2] is None else (row[2], row[3])  # the position reached (order value, key)
        return int(row[0]), int(row[1]), {rule.table: int(row[1])}, last, 0

    loop = runner.new_loop(rule.name, _action(rule), simple, eligible)
    loop.timeouts += counted is None
    loop.skipped = skipped
    loop.spent_s = time.perf_counter() - started
    return loop


def _result(loop: _RuleLoop, backlog: int, age: float | None) -> RuleResult:
    durations = loop.sizer.durations
    return RuleResult(
        rule=loop.rule, action=loop.action, dry_run=False, rows=loop.rows, rows_by_table=loop.by_table,
        batches=len(durations), eligible_at_start=loop.eligible_at_start, backlog=backlog,
        oldest_eligible_age_s=age, duration_s=round(loop.spent_s, 3), p99_batch_ms=p99(durations),
        max_batch_ms=round(max(durations), 2) if durations else None, lock_timeouts=loop.timeouts,
        stopped=loop.stopped or "done", skipped=tuple(loop.skipped),
    )  # fmt: skip


def _dry_run_result(
    name: str, action: Action, by_table: dict[str, int], eligible: int, backlog: int, age: float | None,
    started: float,
) -> RuleResult:  # fmt: skip
    """What a --dry-run reports: the rows that would be done, nothing done."""
    return RuleResult(
        rule=name, action=action, dry_run=True, rows=eligible, rows_by_table=by_table, batches=0,
        eligible_at_start=eligible, backlog=backlog, oldest_eligible_age_s=age,
        duration_s=round(time.perf_counter() - started, 3), p99_batch_ms=None, max_batch_ms=None,
        lock_timeouts=0, stopped="dry run",
    )  # fmt: skip


def _run_rules(runner: _Runner, rules: Sequence[Rule]) -> list[RuleResult]:
    """Every rule's batches in turn (see `_Runner.take_turns`), then each rule's backlog."""
    loops = [_rule_loop(runner, rule) for rule in rules]
    runner.take_turns(loops)
    results = []
    for rule, loop in zip(rules, loops, strict=True):
        started = time.perf_counter()
        backlog, age, _ = _backlog(runner.conn, rule)
        loop.spent_s += time.perf_counter() - started
        if backlog is None:  # the table is locked: what the run knows is left
            loop.timeouts += 1
            backlog = max(loop.eligible_at_start - loop.rows, 0)
        results.append(_result(loop, backlog, age))
    return results


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
    clock: Clock = time.monotonic,
) -> RunResult:
    """Validate every rule against the catalog, take the retention lock, run the rules'
    batches in turn (one batch of each rule at a time) within the time budget."""
    started = clock_start if clock_start is not None else clock()
    deadline = started + run.max_runtime_s if run.max_runtime_s is not None else None
    started_at = _now(conn).isoformat()
    with job_lock(conn, JobFamily.RETENTION, lock_wait), _job_timeouts(conn, run):
        # the column lists, read under the schema lock: no migration changes them until the end
        checked = [validate(conn, rule) for rule in rules]
        runner = _Runner(conn, run, listener or Listener(), deadline, batch_size, clock)
        if dry_run:
            results = [_dry_run_rule(runner, rule) for rule in checked]
        else:
            results = _run_rules(runner, checked)
    return RunResult(tuple(results), round(clock() - started, 3), dry_run, run.max_runtime_s, started_at)


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
    skip_conflicts: bool = False,
) -> RunResult:
    """Move rows archived at or after `since` back to their sources, unit by unit.

    A row whose id is live again cannot go back (an id is never live and archived at
    once): such conflicts are listed and the restore refused, unless `skip_conflicts`
    leaves their units in the archive and restores the rest (reported as skipped).
    """
    started = time.monotonic()
    if rule.kind != "archive":
        raise ConfigError(
            f"rule {rule.name!r} deletes rows; there is nothing to restore", "restore an archive rule"
        )
    started_at = _now(conn).isoformat()
    deadline = started + run.max_runtime_s if run.max_runtime_s is not None else None
    with job_lock(conn, JobFamily.RETENTION, lock_wait), _job_timeouts(conn, run):
        rule = validate(conn, rule)  # under the schema lock, as in apply_rules
        plan = units.restore_plan(rule, since)
        if not skip_conflicts:
            _refuse_conflicts(units.conflicts(conn, plan), rule)
        runner = _Runner(conn, run, listener or Listener(), deadline, batch_size)
        t0 = time.perf_counter()
        waiting = units.count_units(conn, plan)
        eligible = waiting.get(rule.table, 0)
        runner.listener.rule_started(rule.name, "restored", eligible)
        if dry_run:
            result = _dry_run_result(rule.name, "restored", waiting, eligible, eligible, None, t0)
        else:
            skipped: list[Skipped] = []

            def step(limit: int, after: Any) -> Batch:
                with conn.transaction():
                    batch = units.move_units(
                        conn, plan, limit, after, [s.key for s in skipped], skip_failed=skip_conflicts
                    )
                    failpoint("retention.batch.uncommitted")
                skipped.extend(batch.skipped)
                moved = batch.moved.get(rule.table, 0)
                return batch.selected, moved, batch.moved, batch.last_order_value, len(batch.skipped)

            loop = runner.new_loop(rule.name, "restored", step, eligible)
            loop.skipped = skipped
            runner.take_turns([loop])
            left = units.count_units(conn, plan).get(rule.table, 0)
            loop.spent_s = time.perf_counter() - t0
            result = _result(loop, left, None)
    return RunResult((result,), elapsed_s(started), dry_run, run.max_runtime_s, started_at)


def _refuse_conflicts(found: Sequence[tuple[str, str]], rule: Rule) -> None:
    if not found:
        return
    shown = ", ".join(f"{rule.schema}.{table} {key}" for table, key in found[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    raise OperationFailed(
        f"retention.{rule.name}: {len(found)} archived row(s) cannot go back, their id is live again: "
        f"{shown}{more}; nothing was restored",
        "remove or rename the live rows first, or pass --skip-conflicts to restore the rest",
    )
