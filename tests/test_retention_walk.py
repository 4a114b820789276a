"""A batch of a rule that keeps rows below its cutoff examines at most its size of rows.

The quizzes rule keeps the newest quiz of each user and topic for good, so old kept rows
pile up; a batch that had to step over all of them to find the next eligible row (or to
find there is none) took as long as the pile, far beyond `batch_time`. The plans are read
with EXPLAIN (ANALYZE): rows read, not time.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ops.retention import configured_rules, units
from ops.retention import statements as q
from ops.retention.rules import validate
from tests.conftest import Database
from tests.retention_data import eligible_archive, fill_archivable

KEPT = 3000  # abandoned topics: one quiz each, a year old, the newest of its group


def _fill_kept_and_eligible(db: Database) -> None:
    db.conn.execute(
        "insert into quizzes (user_id, topic_id, questions, created_at)"
        " select 'kept-' || g, 'topic', '[]', now() - interval '1 year' + g * interval '1 second'"
        " from generate_series(1, %s) as g",
        (KEPT,),
    )
    db.conn.execute(
        "insert into quizzes (user_id, topic_id, questions, created_at)"
        " select 'active-' || (g % 5), 'topic', '[]', now() - interval '200 days' + g * interval '1 day'"
        " from generate_series(1, 10) as g"
    )
    db.conn.execute("analyze quizzes")


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


@pytest.mark.parametrize("skip_locked", [False, True])
@pytest.mark.parametrize("after", [False, True])
def test_a_batch_reads_at_most_its_size_of_the_rows_the_rule_keeps(
    db: Database, skip_locked: bool, after: bool
) -> None:
    _fill_kept_and_eligible(db)
    with psycopg.connect(db.url, autocommit=True) as conn:
        rule = validate(conn, configured_rules({})["quizzes"])
        now = db.scalar("select now()")
        cutoff = now - timedelta(days=90)
        # from the start of the walk, or from the middle of the kept rows
        middle = "select created_at, id from quizzes order by created_at, id offset 100 limit 1"
        start = db.conn.execute(middle).fetchone() if after else None
        query, params = q.archive_batch(rule, cutoff, start, 10, skip_locked=skip_locked)
        with conn.transaction(force_rollback=True):  # the batch moves rows: keep the data as it is
            row = conn.execute(sql.SQL("explain (analyze, format json) {}").format(query), params).fetchone()
    assert row is not None
    nodes = _nodes(row[0][0]["Plan"])
    walked = [n for n in nodes if n.get("Relation Name") == "quizzes" and n.get("Alias") == "t"]
    assert walked, nodes
    for node in walked:
        assert node["Actual Rows"] * node["Actual Loops"] <= 10, (node["Node Type"], node.get("Index Name"))
    # the walk reads the index in order: no sort of the rows it reads (the CTE's own are small)
    sorts = [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")]
    assert not [n for n in sorts if any(m in walked for m in _nodes(n))]


def test_a_sessions_batch_reads_only_completed_sessions(db: Database) -> None:
    user = db.scalar("insert into users (name) values ('walker') returning id")
    # sessions that never completed stay for good; a few completed ones are due
    db.conn.execute(
        "insert into study_sessions (user_id, exam_type, current_state, created_at)"
        " select %s, 'exam', case when g %% 300 = 0 then 'COMPLETED' else 'LEARNING' end,"
        " now() - interval '2 years' + g * interval '1 minute' from generate_series(1, %s) as g",
        (user, KEPT),
    )
    db.conn.execute("analyze study_sessions")
    with psycopg.connect(db.url, autocommit=True) as conn:
        rule = validate(conn, configured_rules({})["sessions"])
        plan = units.archive_plan(rule, db.scalar("select now()") - timedelta(days=365))
        root = plan.levels[0]
        query = q.lock_roots(root.src, root.key, plan.order_column, plan.where, 5)
        with conn.transaction(force_rollback=True):
            row = conn.execute(
                sql.SQL("explain (analyze, format json) {}").format(query), plan.params
            ).fetchone()
    assert row is not None
    nodes = _nodes(row[0][0]["Plan"])
    walked = [n for n in nodes if n.get("Relation Name") == "study_sessions"]
    assert walked, nodes
    for node in walked:
        assert node["Actual Rows"] * node["Actual Loops"] == 5, (node["Node Type"], node.get("Index Name"))
        assert node.get("Rows Removed by Filter", 0) == 0, (node["Node Type"], node.get("Index Name"))


def test_quizzes_the_application_holds_are_passed_over_and_the_walk_goes_on(
    db: Database, run_cli: Any
) -> None:
    fill_archivable(db.conn)
    eligible = eligible_archive(db.conn)["quizzes"]
    with psycopg.connect(db.url) as app:
        held = app.execute(
            "select id::text from quizzes where id::text = any(%s)"
            " order by created_at, id limit 2 for update",
            (sorted(eligible),),
        ).fetchall()
        result = run_cli("--json", "archive", "quizzes", "--batch-size", "5", url=db.url)
        assert result.exit_code == 0, result.output
        done = json.loads(result.stdout.splitlines()[-1])["rules"][0]
        assert (done["rows"], done["backlog"], done["stopped"]) == (len(eligible) - 2, 2, "done")
        app.rollback()
    archived = {r[0] for r in db.conn.execute("select id::text from archive.quizzes")}
    assert archived == eligible - {h[0] for h in held}
    again = run_cli("--json", "archive", "quizzes", url=db.url)
    assert json.loads(again.stdout.splitlines()[-1])["rules"][0]["rows"] == 2
