"""Cut-off precision: rows a second either side of every TTL and age boundary, and on it.

The cut-off is the server's `now()` as the run reads it, minus the rule's age. To know that
reading exactly, the rows are written and the run is made in one transaction of the test's
own connection (inside a transaction `now()` is the transaction's start), so a row one second
older than the cut-off and one a second younger sit where the run's own clock puts them,
however slow the machine. The restore boundary (`--since T`) is an absolute time, so that
test goes through the command line in autocommit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ops.retention import apply_rules, configured_rules, run_settings
from tests.conftest import Database

# seconds from the cut-off; a row on the cut-off is not older than it, so it stays
EDGES = {"older": -1, "on": 0, "younger": 1}
MOVED = {"older"}
# the documented ages (README, "Retention"): written out here so a changed default is caught
AGE_DAYS = {"plan_cache": 0, "quizzes": 90, "tutor_chats": 180, "sessions": 365}


# each row's time is the transaction's now() plus %(secs)s: the edge's offset minus the age
_AT = "now() + make_interval(secs => %(secs)s)"
INSERT_AT_EDGE = {
    "plan_cache": "insert into plan_cache (cache_key, plan, expires_at)"
    " values ('edge-' || %(edge)s, '{}', " + _AT + ") returning id::text",
    # a newer quiz of the same user and topic follows, so none of these is the latest
    "quizzes": "insert into quizzes (user_id, topic_id, questions, created_at)"
    " values ('edge-user', 'edge-topic', '[]', " + _AT + ") returning id::text",
    "tutor_chats": "insert into tutor_chats (user_id, topic_id, messages, explanation, last_updated)"
    " values ('edge-user', %(edge)s, '[]', 'why', " + _AT + ") returning id::text",
    "sessions": "insert into study_sessions (user_id, exam_type, current_state, created_at)"
    " values (%(user)s, 'exam', 'COMPLETED', " + _AT + ") returning id::text",
}


def _insert(conn: psycopg.Connection[Any], rule: str) -> dict[str, str]:
    """One row per edge for `rule`; returns edge -> id of the rule's root row."""
    ids: dict[str, str] = {}
    user = conn.execute("insert into users (name) values ('edge') returning id::text").fetchone()
    assert user is not None
    for edge, offset in EDGES.items():
        secs = offset - AGE_DAYS[rule] * 86_400
        statement = INSERT_AT_EDGE[rule]
        row = conn.execute(statement, {"edge": edge, "user": user[0], "secs": secs}).fetchone()  # type: ignore[arg-type]
        assert row is not None
        ids[edge] = row[0]
    if rule == "quizzes":
        conn.execute(
            "insert into quizzes (user_id, topic_id, questions, created_at)"
            " values ('edge-user', 'edge-topic', '[]', now())"
        )
    if rule == "sessions":
        conn.execute(
            "insert into topics (session_id, name) select id, 'edge topic' from study_sessions"
            " where id::text = any(%s)",
            (list(ids.values()),),
        )
    return ids


def _left(conn: psycopg.Connection[Any], rule: str, ids: dict[str, str]) -> set[str]:
    table = {"plan_cache": "plan_cache", "sessions": "study_sessions"}.get(rule, rule)
    query = sql.SQL("select id::text from {} where id::text = any(%s)").format(
        sql.Identifier("public", table)
    )
    rows = conn.execute(query, (list(ids.values()),)).fetchall()
    left = {r[0] for r in rows}
    return {edge for edge, id_ in ids.items() if id_ not in left}


@pytest.mark.parametrize("rule", sorted(AGE_DAYS))
def test_the_cut_off_falls_between_a_second_older_and_a_second_younger(db: Database, rule: str) -> None:
    with psycopg.connect(db.url) as conn:  # not autocommit: one transaction, one now()
        conn.execute("set local timezone = 'UTC'")
        ids = _insert(conn, rule)
        now = conn.execute("select now()").fetchone()
        assert now is not None
        result = apply_rules(conn, [configured_rules({})[rule]], run_settings({}))
        gone = _left(conn, rule, ids)
        assert gone == MOVED, f"{rule}: moved {sorted(gone)}, expected only the row a second older"
        assert result.rules[0].rows == 1
        if rule == "sessions":  # the older session's topic went with it, the others' stayed
            assert conn.execute("select count(*) from topics where name = 'edge topic'").fetchone() == (2,)
        if rule != "plan_cache":
            table = "study_sessions" if rule == "sessions" else rule
            query = sql.SQL("select id::text, archived_at from {}").format(sql.Identifier("archive", table))
            archived = conn.execute(query).fetchall()
            assert [r[0] for r in archived] == [ids["older"]]
            assert archived[0][1] == now[0]  # stamped with the run's own clock
        conn.rollback()


def test_restore_since_takes_rows_archived_at_or_after_it(db: Database, run_cli: Any) -> None:
    """`archive restore --since T`: archived a second before T stays, at T and after come back."""
    db.conn.execute(
        "insert into tutor_chats (user_id, topic_id, messages, explanation, last_updated)"
        " select 'u', 'edge-' || e, '[]', 'why', now() - interval '400 days'"
        " from unnest(array['older', 'on', 'younger']) as e"
    )
    assert run_cli("archive", "tutor_chats", url=db.url).exit_code == 0
    since = db.scalar("select date_trunc('second', now()) - interval '1 day'")
    for edge, offset in EDGES.items():
        db.conn.execute(
            "update archive.tutor_chats set archived_at = %s where topic_id = %s",
            (since + timedelta(seconds=offset), f"edge-{edge}"),
        )
    result = run_cli("archive", "restore", "tutor_chats", "--since", since.isoformat(), url=db.url)
    assert result.exit_code == 0, result.output
    back = {r[0] for r in db.conn.execute("select topic_id from public.tutor_chats").fetchall()}
    assert back == {"edge-on", "edge-younger"}
    still = {r[0] for r in db.conn.execute("select topic_id from archive.tutor_chats").fetchall()}
    assert still == {"edge-older"}


def test_restore_since_moves_a_session_with_its_children_at_the_edge(db: Database, run_cli: Any) -> None:
    user = db.scalar("insert into users (name) values ('edge') returning id")
    db.conn.execute(
        "insert into study_sessions (user_id, exam_type, current_state, created_at, metadata)"
        " select %s, 'exam', 'COMPLETED', now() - interval '400 days', jsonb_build_object('edge', e)"
        " from unnest(array['older', 'on', 'younger']) as e",
        (user,),
    )
    db.conn.execute("insert into topics (session_id, name) select id, metadata->>'edge' from study_sessions")
    assert run_cli("archive", "sessions", url=db.url).exit_code == 0
    since = db.scalar("select date_trunc('second', now()) - interval '1 day'")
    for edge, offset in EDGES.items():
        db.conn.execute(
            "update archive.study_sessions set archived_at = %s where metadata->>'edge' = %s",
            (since + timedelta(seconds=offset), edge),
        )
    result = run_cli("archive", "restore", "sessions", "--since", since.isoformat(), url=db.url)
    assert result.exit_code == 0, result.output
    back = {r[0] for r in db.conn.execute("select metadata->>'edge' from public.study_sessions").fetchall()}
    assert back == {"on", "younger"}
    topics = {r[0] for r in db.conn.execute("select name from public.topics").fetchall()}
    assert topics == {"on", "younger"}
