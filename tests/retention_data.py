"""Small data sets and content checksums for the retention tests (plain INSERTs)."""

from __future__ import annotations

from psycopg import sql

from ops.db import Conn

ARCHIVED_TABLES = ("quizzes", "tutor_chats", "study_sessions", "topics", "misconceptions")


def columns(conn: Conn, table: str) -> list[str]:
    rows = conn.execute(
        "select column_name from information_schema.columns"
        " where table_schema = 'public' and table_name = %s order by ordinal_position",
        (table,),
    ).fetchall()
    return [r[0] for r in rows]


def checksums(conn: Conn, schema: str, table: str) -> dict[str, str]:
    """id -> md5 of the row's source columns (so an archived row compares with its original)."""
    cols = sql.SQL(", ").join(sql.Identifier("t", c) for c in columns(conn, table))
    query = sql.SQL("select t.id::text, md5(row({})::text) from {} as t").format(
        cols, sql.Identifier(schema, table)
    )
    return {k: v for k, v in conn.execute(query).fetchall()}


def fill_plan_cache(conn: Conn, total: int) -> set[str]:
    """`total` rows, every other one expired a day ago (interleaved); returns the expired ids."""
    conn.execute(
        "insert into plan_cache (cache_key, plan, created_at, expires_at)"
        " select 'key-' || g, jsonb_build_object('step', g), now() - interval '2 days',"
        " now() + case when g %% 2 = 0 then interval '-1 day' else interval '1 day' end"
        " from generate_series(1, %s) as g",
        (total,),
    )
    rows = conn.execute("select id::text from plan_cache where expires_at < now()").fetchall()
    return {r[0] for r in rows}


def fill_archivable(conn: Conn, sessions: int = 40, groups: int = 20, chats: int | None = None) -> None:
    """Quizzes in groups, chats of all ages, sessions (some COMPLETED) with topics and misconceptions."""
    conn.execute(
        "insert into quizzes (user_id, topic_id, questions, created_at)"
        " select 'user-' || (g %% %(groups)s), 'topic-' || (g %% 3), jsonb_build_array(g),"
        " now() - (80 + (g / %(groups)s) * 10) * interval '1 day'"
        " from generate_series(0, %(groups)s * 6 - 1) as g",
        {"groups": groups},
    )
    conn.execute(
        "insert into tutor_chats (user_id, topic_id, messages, explanation, last_updated)"
        " select 'user-' || g, 'topic-' || g, jsonb_build_array(g), 'why ' || g,"
        " now() - g * interval '10 days' from generate_series(1, %s) as g",
        (chats or groups * 2,),
    )
    user = conn.execute("insert into users (name) values ('retention-user') returning id").fetchone()
    assert user is not None
    conn.execute(
        "insert into study_sessions (user_id, exam_type, current_state, created_at)"
        " select %s, 'exam', case when g %% 3 = 0 then 'LEARNING' else 'COMPLETED' end,"
        " now() - g * interval '20 days' from generate_series(1, %s) as g",
        (user[0], sessions),
    )
    conn.execute(
        "insert into topics (session_id, name) select s.id, 'topic ' || k"
        " from study_sessions as s, generate_series(1, 2) as k"
    )
    conn.execute(
        "insert into misconceptions (user_id, topic_id, description)"
        " select %s, t.id, 'misread ' || t.name from topics as t",
        (user[0],),
    )


def eligible_archive(conn: Conn) -> dict[str, set[str]]:
    """What the shipped archive rules must move, written independently of the tool's SQL."""

    def ids(query: str) -> set[str]:
        return {r[0] for r in conn.execute(query).fetchall()}

    sessions = ids(
        "select id::text from study_sessions"
        " where current_state = 'COMPLETED' and created_at < now() - interval '365 days'"
    )
    return {
        "quizzes": ids(
            "select id::text from quizzes where created_at < now() - interval '90 days' and id not in"
            " (select distinct on (user_id, topic_id) id from quizzes"
            "  order by user_id, topic_id, created_at desc, id desc)"
        ),
        "tutor_chats": ids(
            "select id::text from tutor_chats where last_updated < now() - interval '180 days'"
        ),
        "study_sessions": sessions,
        "topics": {
            r[0]
            for r in conn.execute(
                "select id::text from topics where session_id::text = any(%s)", (list(sessions),)
            ).fetchall()
        },
        "misconceptions": {
            r[0]
            for r in conn.execute(
                "select m.id::text from misconceptions as m join topics as t on m.topic_id = t.id"
                " where t.session_id::text = any(%s)",
                (list(sessions),),
            ).fetchall()
        },
    }


def snapshot_archive(conn: Conn) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """Per table: (source checksums, archive checksums)."""
    return {t: (checksums(conn, "public", t), checksums(conn, "archive", t)) for t in ARCHIVED_TABLES}


def assert_moved_exactly(
    original: dict[str, dict[str, str]],
    eligible: dict[str, set[str]],
    now: dict[str, tuple[dict[str, str], dict[str, str]]],
    *,
    complete: bool,
) -> None:
    """Every row in its source or its archive, never both or neither, unchanged; only eligible rows moved."""
    for table, (source, archived) in now.items():
        assert not set(source) & set(archived), f"{table}: rows in both places"
        assert {**source, **archived} == original[table], f"{table}: archived + remaining != original"
        assert set(archived) <= eligible[table], f"{table}: a row that was not eligible was archived"
        if complete:
            assert set(archived) == eligible[table], f"{table}: eligible rows left behind"


def assert_units_whole(conn: Conn) -> None:
    """A session's topics and misconceptions are where the session is."""
    split = conn.execute(
        "select count(*) from archive.topics as t join study_sessions as s on t.session_id = s.id"
    ).fetchone()
    assert split == (0,), "archived topics of a live session"
    split = conn.execute(
        "select count(*) from topics as t join archive.study_sessions as s on t.session_id = s.id"
    ).fetchone()
    assert split == (0,), "live topics of an archived session"
    split = conn.execute(
        "select count(*) from misconceptions as m join archive.topics as t on m.topic_id = t.id"
    ).fetchone()
    assert split == (0,), "live misconceptions of an archived topic"
