"""One time budget for every rule: the rules take their batches in turn, and what a run leaves
is reported per rule.

The budget is measured with a clock the test moves itself (one second per batch), so what
the tests see depends on the number of batches, never on the machine's speed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import psycopg

from ops import retention
from ops.retention import BatchReport, Listener, configured_rules, run_settings
from tests.conftest import Database
from tests.retention_data import fill_archivable

ARCHIVE_RULES = ("quizzes", "tutor_chats", "sessions")


class BatchClock(Listener):
    """A clock that moves one second with every batch a run reports."""

    def __init__(self) -> None:
        self.now = 0.0
        self.batches: list[str] = []

    def __call__(self) -> float:
        return self.now

    def batch_done(self, report: BatchReport) -> None:
        self.batches.append(report.rule)
        self.now += 1.0


def test_a_budget_too_small_for_the_backlog_is_shared_by_every_rule(db: Database) -> None:
    fill_archivable(db.conn)
    rules = configured_rules({})
    clock = BatchClock()
    run = replace(run_settings({}), max_runtime_s=6.0)  # six batches of the clock
    with psycopg.connect(db.url, autocommit=True) as conn:
        result = retention.apply_rules(
            conn, [rules[name] for name in ARCHIVE_RULES], run, batch_size=2, listener=clock, clock=clock
        )
    assert clock.batches == [*ARCHIVE_RULES, *ARCHIVE_RULES]
    for rule in result.rules:
        assert (rule.rule, rule.stopped, rule.batches, rule.rows) == (rule.rule, "time budget", 2, 4)
        assert rule.backlog == rule.eligible_at_start - 4 > 0, rule
        assert rule.stopped_early
    assert result.stopped_early == ARCHIVE_RULES
    assert result.partial
    assert result.backlog == sum(r.backlog for r in result.rules)


def test_rules_that_finish_leave_the_rest_of_the_budget_to_the_others(db: Database) -> None:
    fill_archivable(db.conn, chats=3)  # tutor_chats: nothing old enough
    rules = configured_rules({})
    clock = BatchClock()
    run = replace(run_settings({}), max_runtime_s=8.0)
    with psycopg.connect(db.url, autocommit=True) as conn:
        result = retention.apply_rules(
            conn, [rules[name] for name in ARCHIVE_RULES], run, batch_size=2, listener=clock, clock=clock
        )
    # tutor_chats' one empty batch ends it; quizzes and sessions share the other seven
    assert clock.batches == ["quizzes", "tutor_chats", "sessions", *("quizzes", "sessions") * 2, "quizzes"]
    done = {r.rule: (r.stopped, r.batches) for r in result.rules}
    assert done == {"quizzes": ("time budget", 4), "tutor_chats": ("done", 1), "sessions": ("time budget", 3)}
    assert result.stopped_early == ("quizzes", "sessions")


def _summary(output: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines[-1]["event"] == "summary"
    return lines[-1]


def test_a_rule_that_could_not_finish_is_named_with_its_backlog(db: Database, run_cli: Any) -> None:
    fill_archivable(db.conn)
    chats = db.scalar("select count(*) from tutor_chats where last_updated < now() - interval '180 days'")
    with psycopg.connect(db.url) as app:
        app.execute("lock table tutor_chats in exclusive mode")  # every batch of the rule times out
        text = run_cli("archive", url=db.url)
        as_json = run_cli("--json", "archive", url=db.url)
        app.rollback()
    assert (text.exit_code, as_json.exit_code) == (6, 6), text.output + as_json.output
    row = next(line.split() for line in text.stdout.splitlines() if line.startswith("tutor_chats "))
    assert row[-2:] == ["lock", "timeouts"]
    assert str(chats) in row
    assert text.stdout.splitlines()[-1].endswith(f"; backlog left: {chats} (tutor_chats {chats})")
    assert f"stopped with {chats} eligible rows left: tutor_chats {chats} (lock timeouts)" in text.stderr
    summary = _summary(as_json.stdout)
    assert summary["stopped_early"] == ["tutor_chats"]
    by_rule = {r["rule"]: r for r in summary["rules"]}
    assert (by_rule["tutor_chats"]["stopped"], by_rule["tutor_chats"]["backlog"]) == ("lock timeouts", chats)
    for other in ("quizzes", "sessions"):
        assert (by_rule[other]["stopped"], by_rule[other]["backlog"]) == ("done", 0)


def test_a_table_locked_even_against_reading_stops_only_its_own_rule(db: Database, run_cli: Any) -> None:
    """ACCESS EXCLUSIVE blocks the rule's counts too, not only its batches: the other rules
    still run, and the run says which rule it gave up on (exit 6, not a failed run)."""
    fill_archivable(db.conn)
    quizzes = db.scalar("select count(*) from quizzes")
    with psycopg.connect(db.url) as app:
        app.execute("lock table tutor_chats in access exclusive mode")
        result = run_cli("--json", "archive", url=db.url)
        app.rollback()
    assert result.exit_code == 6, result.output
    summary = _summary(result.stdout)
    assert summary["stopped_early"] == ["tutor_chats"]
    by_rule = {r["rule"]: r for r in summary["rules"]}
    chats = by_rule["tutor_chats"]
    assert chats["stopped"] == "lock timeouts" and chats["lock_timeouts"] > 0
    assert (by_rule["sessions"]["stopped"], by_rule["sessions"]["backlog"]) == ("done", 0)
    assert by_rule["quizzes"]["rows"] > 0 and db.scalar("select count(*) from quizzes") < quizzes


def test_verbose_output_of_a_partial_run_has_no_traceback(db: Database, run_cli: Any) -> None:
    """Exit 6 is an outcome the run reports (backlog left), not a fault: -v adds batch lines, not a trace."""
    fill_archivable(db.conn)
    with psycopg.connect(db.url) as app:
        app.execute("lock table tutor_chats in exclusive mode")
        result = run_cli("-v", "archive", url=db.url)
        app.rollback()
    assert result.exit_code == 6, result.output
    assert "Traceback" not in result.output and "Note:" in result.stderr
