"""Retention rules: defaults, overrides, catalog checks (injection refused), pure helpers."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ops.errors import ConfigError
from ops.metrics import Sample, read_textfile, write_textfile
from ops.retention import (
    DEFAULT_RULES,
    configured_rules,
    render_metrics,
    run_settings,
)
from ops.retention.batches import BatchSizer, p99
from ops.retention.cron import HELP, metric_samples
from tests.conftest import Database


def test_shipped_rules() -> None:
    rules = configured_rules({})
    assert list(rules) == ["plan_cache", "quizzes", "tutor_chats", "sessions"]
    assert (rules["plan_cache"].kind, rules["plan_cache"].column) == ("ttl", "expires_at")
    assert rules["quizzes"].older_than == timedelta(days=90)
    assert rules["quizzes"].keep_latest_per == ("user_id", "topic_id")
    assert rules["tutor_chats"].older_than == timedelta(days=180)
    assert rules["sessions"].older_than == timedelta(days=365)
    assert rules["sessions"].where == (("current_state", "COMPLETED"),)
    assert [c.table for c in rules["sessions"].children] == ["topics", "misconceptions"]


def test_overrides_merge_key_by_key_and_disable() -> None:
    tool = {
        "retention": {
            "quizzes": {"older_than": "30 days"},
            "tutor_chats": {"enabled": False},
            "old_plans": {
                "kind": "archive",
                "table": "plan_cache",
                "column": "created_at",
                "older_than": "2w",
            },
            "batch_time": "50ms",
        }
    }
    rules = configured_rules(tool)
    assert "tutor_chats" not in rules
    assert rules["quizzes"].older_than == timedelta(days=30)
    assert rules["quizzes"].keep_latest_per == ("user_id", "topic_id")
    assert rules["old_plans"].older_than == timedelta(weeks=2)
    assert run_settings(tool).batch_time_ms == 50
    assert run_settings(tool).batch_pause_ms == 0
    assert run_settings({"retention": {"batch_pause": "20ms"}}).batch_pause_ms == 20
    assert DEFAULT_RULES["quizzes"]["older_than"] == "90 days"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "drop"}, "retention.x: kind must be one of ttl, archive, got 'drop'"),
        ({"kind": "ttl", "table": "plan_cache"}, "retention.x: missing column"),
        ({"kind": "archive", "table": "t", "column": "c"}, "retention.x: an archive rule needs older_than"),
        ({"kind": "ttl", "table": "t", "column": "c", "colour": "red"}, "retention.x: unknown key(s) colour"),
        ({"kind": "ttl", "table": "t", "column": "c", "where": {"a": [1]}},
         "retention.x.where: expected column = value pairs"),
    ],
)  # fmt: skip
def test_bad_rules_are_configuration_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        configured_rules({"retention": {"x": spec}})
    assert err.value.message == message


def test_reserved_rule_name() -> None:
    with pytest.raises(ConfigError, match="'restore' is a reserved word"):
        configured_rules({"retention": {"restore": {"kind": "ttl", "table": "t", "column": "c"}}})


def test_parse_age_and_since() -> None:
    from ops.vocabulary import parse_duration, parse_timestamp

    assert parse_duration("90 days", "x") == timedelta(days=90)
    assert parse_duration("36h", "x") == timedelta(hours=36)
    assert parse_duration(60, "x") == timedelta(minutes=1)
    with pytest.raises(ConfigError):
        parse_duration("90 fortnights", "x")
    assert parse_timestamp("2026-01-31T12:00:00", "x") == datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert abs(datetime.now(UTC) - timedelta(hours=2) - parse_timestamp("2h", "x")) < timedelta(seconds=5)


def test_batch_sizer_adapts_to_the_budget() -> None:
    sizer = BatchSizer(100.0, 1000)
    sizer.record(10.0, full=True)
    assert sizer.size == 2000  # at most doubles
    sizer.record(400.0, full=True)
    assert sizer.size == 1000  # at most halves
    sizer.record(75.0, full=True)
    assert sizer.size == 800  # aims at 60 ms of a 100 ms budget
    sizer.record(1.0, full=False)
    assert sizer.size == 800  # a short last batch says nothing about speed
    fixed = BatchSizer(100.0, 50, fixed=True)
    fixed.record(1.0, full=True)
    assert fixed.size == 50
    assert p99([float(i) for i in range(1, 101)]) == 100.0
    assert p99([]) is None


def test_metrics_text_escapes_labels_and_writes_atomically(tmp_path: Path) -> None:
    from ops.retention import RuleResult, RunResult

    rule = RuleResult(
        rule='we"ird\\',
        action="deleted",
        dry_run=False,
        rows=3,
        rows_by_table={"plan_cache": 3},
        batches=1,
        eligible_at_start=3,
        backlog=0,
        oldest_eligible_age_s=None,
        duration_s=0.1,
        p99_batch_ms=2.5,
        max_batch_ms=2.5,
        lock_timeouts=0,
        stopped="done",
    )
    text = render_metrics(RunResult((rule,), 0.2, False, None), 0, 0.2, 1700000000.25)
    assert 'dbops_retention_rows{action="deleted",rule="we\\"ird\\\\"} 3.0\n' in text
    assert "dbops_retention_last_run_timestamp_seconds 1.70000000025e+09\n" in text
    assert 'dbops_retention_batch_duration_p99_seconds{rule="we\\"ird\\\\"} 0.0025\n' in text
    target = tmp_path / "m.prom"
    target.write_text("# the previous run's file\n")
    target.chmod(0o644)
    write_textfile(target, metric_samples(RunResult((rule,), 0.2, False, None), 0, 0.2, 1.5), HELP)
    assert target.read_text() == render_metrics(RunResult((rule,), 0.2, False, None), 0, 0.2, 1.5)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    rows = read_textfile(target)
    assert Sample("dbops_retention_rows", 3, {"rule": 'we"ird\\', "action": "deleted"}) in rows
    assert list(tmp_path.iterdir()) == [target]


def _project(tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.dbops]\n" + body)
    monkeypatch.chdir(tmp_path)


def test_injection_in_a_table_name_is_refused(
    db: Database, run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(
        tmp_path,
        '[tool.dbops.retention.evil]\nkind = "ttl"\ntable = "plan_cache; drop table users; --"\n'
        'column = "expires_at"\n',
        monkeypatch,
    )
    metrics = tmp_path / "m.prom"
    result = run_cli("retention", "run", "--metrics-file", str(metrics), url=db.url)
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: retention.evil: no table 'plan_cache; drop table users; --' in schema 'public'\n"
        "Hint: fix [tool.dbops.retention.evil] in pyproject.toml, or migrate the database (`dbops migrate`)\n"
    )
    assert db.scalar("select to_regclass('public.users') is not null") is True
    assert "dbops_retention_last_run_exit_code 2.0\n" in metrics.read_text()


def test_injection_in_a_column_name_is_refused(
    db: Database, run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(
        tmp_path,
        '[tool.dbops.retention.plan_cache]\ncolumn = "expires_at < now() or true --"\n',
        monkeypatch,
    )
    db.conn.execute("insert into plan_cache (cache_key, plan) values ('fresh', '{}')")
    result = run_cli("evict", url=db.url)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: retention.plan_cache: table public.plan_cache has no column 'expires_at < now() or true --'\n"
    )
    assert db.scalar("select count(*) from plan_cache") == 1


def test_a_missing_archive_table_is_refused_before_anything_runs(
    db: Database, run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(
        tmp_path,
        '[tool.dbops.retention.users]\nkind = "archive"\ntable = "users"\ncolumn = "created_at"\n'
        'older_than = "1s"\n',
        monkeypatch,
    )
    db.conn.execute(
        "insert into plan_cache (cache_key, plan, expires_at) values ('old', '{}', now() - '1h'::interval)"
    )
    result = run_cli("retention", "run", url=db.url)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: retention.users: no table 'users' in schema 'archive'\n")
    assert db.scalar("select count(*) from plan_cache") == 1  # plan_cache ran not


def test_a_custom_rule_from_the_config_file_runs(
    db: Database, run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(
        tmp_path,
        "[tool.dbops.retention.sessions]\nenabled = false\n[tool.dbops.retention.quizzes]\nenabled = false\n"
        '[tool.dbops.retention.tutor_chats]\nolder_than = "1 day"\nwhere = {topic_id = "math"}\n',
        monkeypatch,
    )
    db.conn.execute(
        "insert into tutor_chats (user_id, topic_id, explanation, last_updated) values"
        " ('a', 'math', 'x', now() - interval '2 days'), ('b', 'art', 'y', now() - interval '2 days')"
    )
    result = run_cli("archive", url=db.url)
    assert result.exit_code == 0, result.output
    assert db.scalar("select topic_id from archive.tutor_chats") == "math"
    assert db.scalar("select count(*) from tutor_chats") == 1


def test_readme_retention_example_is_valid_config(run_cli: Any) -> None:
    import re
    import tomllib

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Retention", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, re.S)
    assert example is not None
    tool = tomllib.loads(example.group(1))["tool"]["dbops"]
    rules = configured_rules(tool)
    assert "tutor_chats" not in rules
    assert rules["old_plans"].older_than == timedelta(days=14)
    assert run_settings(tool).max_runtime_s == 600
    for verb in (["evict"], ["archive"], ["retention", "run"]):
        assert run_cli(*verb, "--help").exit_code == 0
        assert f"dbops {' '.join(verb)}" in readme


def test_batch_pause_throttles_between_batches(
    db: Database, run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    _project(tmp_path, '[tool.dbops.retention]\nbatch_pause = "200ms"\n', monkeypatch)
    db.conn.execute(
        "insert into plan_cache (cache_key, plan, expires_at)"
        " select 'k' || g, '{}', now() - interval '1 hour' from generate_series(1, 30) as g"
    )
    started = time.monotonic()
    result = run_cli("evict", "--batch-size", "10", url=db.url)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 0.6  # three full batches, each followed by a pause
    assert db.scalar("select count(*) from plan_cache") == 0
