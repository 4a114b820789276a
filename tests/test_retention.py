"""Retention against the real server: eviction, archival, restore, locks, exit codes, metrics."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ops import retention
from ops.locks import NAMESPACE, JobFamily
from ops.retention import configured_rules, run_settings
from tests.conftest import Database
from tests.processes import Dbops
from tests.retention_data import (
    ARCHIVED_TABLES,
    assert_moved_exactly,
    assert_units_whole,
    checksums,
    eligible_archive,
    fill_archivable,
    fill_plan_cache,
    snapshot_archive,
)


def summary(output: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines[-1]["event"] == "summary"
    return lines[-1]


def rule_of(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in result["rules"] if r["rule"] == name)


# --- eviction ---------------------------------------------------------------------------------


def test_evict_deletes_expired_rows_and_nothing_else(db: Database, run_cli: Any) -> None:
    expired = fill_plan_cache(db.conn, 2000)
    before = checksums(db.conn, "public", "plan_cache")
    result = run_cli("--json", "evict", url=db.url)
    assert result.exit_code == 0, result.output
    done = rule_of(summary(result.stdout), "plan_cache")
    assert (done["rows"], done["backlog"], done["stopped"]) == (1000, 0, "done")
    after = checksums(db.conn, "public", "plan_cache")
    assert after == {k: v for k, v in before.items() if k not in expired}
    batches = [json.loads(x) for x in result.stdout.splitlines() if '"event": "batch"' in x]
    assert sum(b["rows"] for b in batches) == 1000


def test_evict_with_nothing_expired_stays_quiet(db: Database, run_cli: Any) -> None:
    db.conn.execute("insert into plan_cache (cache_key, plan) values ('fresh', '{}')")
    result = run_cli("evict", url=db.url)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("0 rows done in ")
    assert result.stdout.splitlines()[-1].endswith("; backlog left: 0")
    assert db.scalar("select count(*) from plan_cache") == 1


def test_evict_dry_run_counts_and_changes_nothing(db: Database, run_cli: Any) -> None:
    fill_plan_cache(db.conn, 300)
    result = run_cli("evict", "--dry-run", url=db.url)
    assert result.exit_code == 0, result.output
    assert "dry run: 150 rows would be done; nothing was changed" in result.stdout
    assert db.scalar("select count(*) from plan_cache") == 300


def test_rows_the_application_holds_are_skipped_then_picked_up(db: Database, run_cli: Any) -> None:
    fill_plan_cache(db.conn, 200)
    with psycopg.connect(db.url) as app:
        held = app.execute(
            "select id from plan_cache where expires_at < now() order by expires_at limit 3 for update"
        ).fetchall()
        result = run_cli("--json", "evict", url=db.url)
        assert result.exit_code == 0, result.output
        done = rule_of(summary(result.stdout), "plan_cache")
        assert (done["rows"], done["backlog"]) == (97, 3)
        assert db.scalar("select count(*) from plan_cache where id = any(%s)", ([h[0] for h in held],)) == 3
        app.rollback()
    result = run_cli("--json", "evict", url=db.url)
    assert rule_of(summary(result.stdout), "plan_cache")["rows"] == 3
    assert db.scalar("select count(*) from plan_cache where expires_at < now()") == 0


def test_a_table_lock_times_out_instead_of_queueing(db: Database, run_cli: Any) -> None:
    fill_plan_cache(db.conn, 20)
    with psycopg.connect(db.url) as app:
        app.execute("lock table plan_cache in exclusive mode")
        started = time.monotonic()
        result = run_cli("--json", "evict", url=db.url)
        waited = time.monotonic() - started
        app.rollback()
    assert result.exit_code == 6, result.output
    done = rule_of(summary(result.stdout), "plan_cache")
    assert (done["stopped"], done["rows"], done["backlog"]) == ("lock timeouts", 0, 10)
    assert done["lock_timeouts"] == retention.MAX_LOCK_RETRIES + 1
    assert waited < 30  # the retries back off briefly; nothing waits for the application's commit


def test_app_writes_and_locks_during_eviction_see_no_error_and_no_long_wait(db: Database) -> None:
    fill_plan_cache(db.conn, 6000)
    stop, errors, waits = threading.Event(), list[BaseException](), list[float]()

    def application() -> None:
        with psycopg.connect(db.url, autocommit=True) as app:
            n = 0
            while not stop.is_set():
                n += 1
                t0 = time.perf_counter()
                try:
                    with app.transaction():
                        app.execute(
                            "insert into plan_cache (cache_key, plan) values (%s, '{}')", (f"app-{n}",)
                        )
                        app.execute(
                            "select id from plan_cache where expires_at < now() and cache_key like %s"
                            " for update",
                            (f"key-{2 * (n % 500)}",),
                        )
                        app.execute(
                            "update plan_cache set plan = '{\"touched\": true}' where cache_key = %s",
                            (f"key-{2 * (n % 500) + 1}",),
                        )
                except psycopg.Error as exc:
                    errors.append(exc)
                waits.append(time.perf_counter() - t0)

    thread = threading.Thread(target=application)
    thread.start()
    try:
        with psycopg.connect(db.url, autocommit=True) as conn:
            rules = configured_rules({})
            result = retention.apply_rules(conn, [rules["plan_cache"]], run_settings({}), batch_size=50)
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert max(waits) < 2.0, f"the application waited {max(waits):.2f} s"
    assert result.rules[0].rows >= 2900
    assert db.scalar("select count(*) from plan_cache where cache_key like 'app-%%'") == len(waits)


# --- archival -------------------------------------------------------------------------------


def test_archive_moves_exactly_the_eligible_rows_as_units(db: Database, run_cli: Any) -> None:
    fill_archivable(db.conn)
    original = {t: checksums(db.conn, "public", t) for t in ARCHIVED_TABLES}
    eligible = eligible_archive(db.conn)
    assert all(eligible[t] for t in ARCHIVED_TABLES)
    assert eligible["quizzes"] != {k for k in original["quizzes"]}
    result = run_cli("--json", "archive", url=db.url)
    assert result.exit_code == 0, result.output
    assert_moved_exactly(original, eligible, snapshot_archive(db.conn), complete=True)
    assert_units_whole(db.conn)
    sessions = rule_of(summary(result.stdout), "sessions")
    assert sessions["rows_by_table"] == {
        "misconceptions": len(eligible["misconceptions"]),
        "topics": len(eligible["topics"]),
        "study_sessions": len(eligible["study_sessions"]),
    }
    again = run_cli("--json", "archive", url=db.url)
    assert summary(again.stdout)["rows"] == 0


def test_archive_keeps_the_newest_quiz_of_each_user_and_topic(db: Database, run_cli: Any) -> None:
    db.conn.execute(
        "insert into quizzes (user_id, topic_id, questions, created_at) values"
        " ('u', 't', '[1]', now() - interval '400 days'), ('u', 't', '[2]', now() - interval '300 days'),"
        " ('v', 't', '[3]', now() - interval '400 days')"
    )
    result = run_cli("archive", "quizzes", url=db.url)
    assert result.exit_code == 0, result.output
    assert db.scalar("select array_agg(questions::text order by questions::text) from quizzes") == [
        "[2]",
        "[3]",
    ]
    assert db.scalar("select questions::text from archive.quizzes") == "[1]"


def test_archive_older_than_flag_overrides_the_rule(db: Database, run_cli: Any) -> None:
    fill_archivable(db.conn)
    result = run_cli("--json", "archive", "tutor_chats", "--older-than", "1000 days", url=db.url)
    assert result.exit_code == 0, result.output
    assert summary(result.stdout)["rows"] == 0
    result = run_cli("--json", "archive", "tutor_chats", "--older-than", "300 days", url=db.url)
    assert summary(result.stdout)["rows"] == 11


def test_a_unit_with_a_locked_child_waits_for_the_next_run(db: Database, run_cli: Any) -> None:
    fill_archivable(db.conn)
    eligible = eligible_archive(db.conn)
    with psycopg.connect(db.url) as app:
        session, topic = app.execute(
            "select t.session_id, t.id from topics as t where t.session_id::text = any(%s)"
            " limit 1 for update",
            (sorted(eligible["study_sessions"]),),
        ).fetchone() or (None, None)
        result = run_cli("--json", "archive", "sessions", url=db.url)
        assert result.exit_code == 0, result.output
        done = rule_of(summary(result.stdout), "sessions")
        assert (done["rows"], done["backlog"]) == (len(eligible["study_sessions"]) - 1, 1)
        assert db.scalar("select count(*) from topics where session_id = %s", (session,)) == 2
        app.rollback()
    assert_units_whole(db.conn)
    result = run_cli("--json", "archive", "sessions", url=db.url)
    assert rule_of(summary(result.stdout), "sessions")["rows"] == 1
    assert db.scalar("select count(*) from archive.topics where id = %s", (topic,)) == 1


def test_units_left_behind_do_not_keep_a_run_spinning(db: Database, run_cli: Any) -> None:
    user = db.scalar("insert into users (name) values ('spin') returning id")
    db.conn.execute(
        "insert into study_sessions (user_id, exam_type, current_state, created_at)"
        " select %s, 'exam', 'COMPLETED', '2020-01-01' from generate_series(1, 3)",
        (user,),
    )
    db.conn.execute("insert into topics (session_id, name) select id, 'x' from study_sessions")
    with psycopg.connect(db.url) as app:
        app.execute("select id from topics for update")
        result = run_cli(
            "--json", "archive", "sessions", "--batch-size", "1", "--max-runtime", "20", url=db.url
        )
        app.rollback()
    assert result.exit_code == 0, result.output
    done = rule_of(summary(result.stdout), "sessions")
    assert (done["stopped"], done["rows"], done["backlog"]) == ("done", 0, 3)


def test_restore_round_trips(db: Database, run_cli: Any) -> None:
    fill_archivable(db.conn)
    original = {t: checksums(db.conn, "public", t) for t in ARCHIVED_TABLES}
    assert run_cli("archive", url=db.url).exit_code == 0
    assert db.scalar("select count(*) from archive.study_sessions") > 0
    for rule in ("quizzes", "tutor_chats", "sessions"):
        result = run_cli("archive", "restore", rule, "--since", "1h", url=db.url)
        assert result.exit_code == 0, result.output
    for table in ARCHIVED_TABLES:
        assert checksums(db.conn, "public", table) == original[table], table
        assert checksums(db.conn, "archive", table) == {}, table


def test_a_restore_that_conflicts_fails_whole_and_loses_nothing(db: Database, run_cli: Any) -> None:
    db.conn.execute(
        "insert into tutor_chats (user_id, topic_id, explanation, last_updated)"
        " values ('u', 'algebra', 'old', now() - interval '400 days')"
    )
    assert run_cli("archive", "tutor_chats", url=db.url).exit_code == 0
    db.conn.execute("insert into tutor_chats (user_id, topic_id, explanation) values ('u', 'algebra', 'new')")
    result = run_cli("archive", "restore", "tutor_chats", "--since", "1h", url=db.url)
    assert result.exit_code == 4
    assert result.stderr.startswith(
        'Error: duplicate key value violates unique constraint "tutor_chats_user_id_topic_id_key"'
    )
    assert db.scalar("select explanation from archive.tutor_chats") == "old"
    assert db.scalar("select explanation from tutor_chats") == "new"


def test_restore_dry_run_and_since_in_the_future(db: Database, run_cli: Any) -> None:
    fill_archivable(db.conn)
    run_cli("archive", "sessions", url=db.url)
    moved = db.scalar("select count(*) from archive.study_sessions")
    result = run_cli("--json", "archive", "restore", "sessions", "--since", "1h", "--dry-run", url=db.url)
    assert summary(result.stdout)["rules"][0]["rows_by_table"]["study_sessions"] == moved
    assert db.scalar("select count(*) from archive.study_sessions") == moved
    result = run_cli(
        "--json", "archive", "restore", "sessions", "--since", "2999-01-01T00:00:00Z", url=db.url
    )
    assert (result.exit_code, summary(result.stdout)["rows"]) == (0, 0)


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["archive", "restore", "quizzes"], "usage: dbops archive restore RULE --since T",
         "e.g. dbops archive restore quizzes --since 2h"),
        (["archive", "restore", "plan_cache", "--since", "1h"], "rule 'plan_cache' is a ttl rule",
         "run it with `dbops evict plan_cache`"),
        (["archive", "quizzes", "--since", "1h"], "usage: dbops archive [RULE] [--older-than AGE]",
         "or: dbops archive restore RULE --since T"),
        (["archive", "restore", "quizzes", "--since", "yesterday-ish"],
         "--since: cannot read 'yesterday-ish' as a time",
         "write it like 2026-01-31T12:00:00Z, 2026-01-31 12:00 or now-7d"),
        (["evict", "quizzes"], "rule 'quizzes' is an archive rule", "run it with `dbops archive quizzes`"),
        (["evict", "nope"], "no retention rule named 'nope'",
         "use one of plan_cache, quizzes, sessions, tutor_chats or add [tool.dbops.retention.nope]"),
        (["archive", "--older-than", "soon"], "--older-than: cannot read 'soon' as a duration",
         "write it like 250ms, 30s, 30m, 12h, 7d or 1w"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2(db: Database, run_cli: Any, args: list[str], message: str, hint: str) -> None:
    result = run_cli(*args, url=db.url)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {message}\nHint: {hint}\n"


def test_archive_tables_carry_rls_like_their_sources(db: Database) -> None:
    rows = db.conn.execute(
        "select c.relname, s.relrowsecurity, c.relrowsecurity from pg_class as c"
        " join pg_namespace as n on n.oid = c.relnamespace and n.nspname = 'archive'"
        " join pg_class as s on s.relname = c.relname"
        " and s.relnamespace = 'public'::regnamespace where c.relkind = 'r'"
    ).fetchall()
    assert {r[0] for r in rows} == set(ARCHIVED_TABLES)
    for table, source_rls, archive_rls in rows:
        assert archive_rls, f"archive.{table} has RLS off"
        assert archive_rls >= source_rls


# --- locks, budgets, exit codes, metrics -------------------------------------------------------


def test_busy_exits_5_at_once_and_writes_metrics(db: Database, run_cli: Any, tmp_path: Path) -> None:
    metrics = tmp_path / "retention.prom"
    with psycopg.connect(db.url, autocommit=True) as other:
        other.execute("select pg_advisory_lock(%s, %s)", (NAMESPACE, int(JobFamily.RETENTION)))
        started = time.monotonic()
        result = run_cli("retention", "run", "--metrics-file", str(metrics), url=db.url)
        elapsed = time.monotonic() - started
    assert result.exit_code == 5
    assert result.stderr.startswith("Error: another run holds the retention lock: pid ")
    assert result.stderr.endswith("Hint: wait and retry, pass --lock-wait SECONDS, or see `dbops unlock`\n")
    assert elapsed < 30  # a hang guard: waiting for the lock would last as long as `other` holds it
    text = metrics.read_text()
    assert "dbops_retention_last_run_exit_code 5.0\n" in text
    assert "dbops_retention_last_run_success 0.0\n" in text


def test_time_budget_exit_6_reports_backlog_and_metrics(db: Database, tmp_path: Path) -> None:
    fill_plan_cache(db.conn, 4000)
    metrics = tmp_path / "retention.prom"
    budget = 5.0  # far more than a first batch needs, even on a loaded machine
    run = Dbops.start(
        db.url, "--json", "retention", "run", "--max-runtime", str(budget), "--batch-size", "5",
        "--metrics-file", str(metrics), failpoints="retention.batch.committed",
    )  # fmt: skip
    # stopped after its first batch until the budget is surely spent: the next check stops the run
    assert run.stopped_at() == "retention.batch.committed"
    time.sleep(budget)
    run.resume()
    code, out, err = run.finish()
    assert code == 6, out + err
    done = rule_of(summary(out), "plan_cache")
    assert (done["stopped"], done["rows"], done["batches"]) == ("time budget", 5, 1)
    assert done["backlog"] == 2000 - 5
    assert summary(out)["partial"] is True
    assert "Note: stopped with" in err
    text = metrics.read_text()
    assert "dbops_retention_last_run_exit_code 6.0\n" in text
    assert f'dbops_retention_backlog_rows{{rule="plan_cache"}} {float(done["backlog"])}\n' in text
    assert list(tmp_path.iterdir()) == [metrics]  # no temporary file left behind


def test_retention_run_does_every_rule_and_metrics_say_so(db: Database, run_cli: Any, tmp_path: Path) -> None:
    fill_plan_cache(db.conn, 100)
    fill_archivable(db.conn)
    metrics = tmp_path / "m.prom"
    result = run_cli("retention", "run", "--metrics-file", str(metrics), url=db.url)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].endswith("; backlog left: 0")
    text = metrics.read_text()
    assert "dbops_retention_last_run_success 1.0\n" in text
    for rule in ("plan_cache", "quizzes", "tutor_chats", "sessions"):
        assert f'dbops_retention_rule_completed{{rule="{rule}"}} 1.0\n' in text
    assert 'dbops_retention_table_rows{rule="sessions",table="topics"}' in text


def test_retention_run_dry_run_changes_nothing(db: Database, run_cli: Any) -> None:
    fill_plan_cache(db.conn, 100)
    fill_archivable(db.conn)
    before = snapshot_archive(db.conn)
    result = run_cli("--json", "retention", "run", "--dry-run", url=db.url)
    assert result.exit_code == 0, result.output
    sessions = rule_of(summary(result.stdout), "sessions")
    assert sessions["rows_by_table"]["topics"] == 2 * sessions["rows"] > 0
    assert snapshot_archive(db.conn) == before
    assert db.scalar("select count(*) from plan_cache") == 100


def test_a_dry_run_writes_no_metrics(db: Database, run_cli: Any, tmp_path: Path) -> None:
    """A trial run pointed at the cron job's file must not make a stopped job look alive."""
    metrics = tmp_path / "retention.prom"
    result = run_cli("retention", "run", "--dry-run", "--metrics-file", str(metrics), url=db.url)
    assert result.exit_code == 0, result.output
    assert not metrics.exists()
