"""The sample-data generator: realistic, valid, deterministic rows for every table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from psycopg import sql

from ops.errors import ConfigError, OperationFailed
from ops.sample import TABLES, SampleShape, generate_rows, load_sample_data, user_name
from tests.conftest import Database

ANCHOR = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def count_rows(db: Database, table_name: str) -> int:
    row = db.conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(table_name))).fetchone()
    assert row is not None
    return int(row[0])


def _bytes(**kwargs: object) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for chunk in generate_rows(**kwargs):  # type: ignore[arg-type]
        out[chunk.table] = out.get(chunk.table, b"") + chunk.data
    return out


def test_same_seed_and_anchor_give_identical_rows() -> None:
    first = _bytes(users=40, seed=7, anchor=ANCHOR)
    assert first == _bytes(users=40, seed=7, anchor=ANCHOR)
    assert set(first) == set(TABLES)
    other = _bytes(users=40, seed=8, anchor=ANCHOR)
    assert all(first[t] != other[t] for t in TABLES)


# md5 of each table's rows (ordered by id) for 500 users of seed 3 at PINNED_ANCHOR. The values
# were produced when the generator wrote COPY text; the binary COPY loads the very same rows.
# A deliberate change of the generated data updates them (and says so in its commit).
PINNED_ANCHOR = datetime(2026, 6, 1, 12, 0, 7, 123456, tzinfo=UTC)
PINNED = {
    "users": "cca724766a1bb82533f155042a2971a0",
    "study_sessions": "af55ca898c60222364e4fff25c65d4fa",
    "topics": "78ebd56d0600a1fd11253ec3f3e71b9f",
    "misconceptions": "d6cf144a9d2e93b15af4aa97d1235572",
    "tutor_chats": "3040a4db5ee17ca4ddcc5d69477d0f5f",
    "quizzes": "e5ebe51be9dcbbd8540f8ff01fd05a26",
    "plan_cache": "406f6267a06753718e2adb6d51d26d8b",
}


def test_loaded_rows_are_pinned_for_a_seed(db: Database) -> None:
    load_sample_data(db.conn, 500, seed=3, anchor=PINNED_ANCHOR)
    digests = {
        t: db.scalar(
            sql.SQL("select md5(string_agg(x::text, '|' order by x.id)) from {} x").format(sql.Identifier(t))
        )
        for t in TABLES
    }
    assert digests == PINNED


def test_binary_fields_load_as_the_values_they_encode(db: Database) -> None:
    from ops.sample.copy_binary import (
        HEADER,
        NULL,
        TRAILER,
        columns,
        int4_field,
        jsonb_array_field,
        jsonb_field,
        text_field,
        timestamp_field,
        uuid_field,
    )

    db.conn.execute("create table t (u uuid, s text, n int, ts timestamptz, j jsonb, a jsonb[], e jsonb[])")
    row = (
        columns(7)
        + uuid_field(0x0123456789ABCDEF0123456789ABCDEF)
        + text_field("tab\t and ü")
        + int4_field(-7)
        + timestamp_field(ANCHOR.timestamp() + 0.9)
        + jsonb_field(b'{"b": 1, "a": "\\\\"}')
        + jsonb_array_field([jsonb_field(b"[1]"), jsonb_field(b'{"x": null}')])
        + jsonb_array_field([])
    )
    with db.conn.cursor().copy("copy t from stdin (format binary)") as copy:
        copy.write(HEADER + row + columns(7) + NULL * 7 + TRAILER)
    rows = db.conn.execute("select u::text, s, n, ts, j::text, a::text, e::text from t order by n").fetchall()
    assert rows[0] == (
        "01234567-89ab-cdef-0123-456789abcdef",
        "tab\t and ü",
        -7,
        ANCHOR,
        '{"a": "\\\\", "b": 1}',
        '{[1],"{\\"x\\": null}"}',
        "{}",
    )
    assert rows[1] == (None,) * 7


def test_load_fills_every_table_with_counts_as_reported(db: Database) -> None:
    report = load_sample_data(db.conn, 60, seed=3, expired_fraction=0.25, anchor=ANCHOR)
    for table_name, rows in report.rows.items():
        assert rows > 0, table_name
        assert count_rows(db, table_name) == rows
    assert report.rows["users"] == 60
    assert report.rows["plan_cache"] == 30
    assert report.expired_plans == round(30 * 0.25) == 8
    assert db.scalar("select count(*) from plan_cache where expires_at < %s", (ANCHOR,)) == 8
    assert db.scalar("select max(expires_at) from plan_cache") <= ANCHOR.replace(day=2)
    assert report.total_rows == sum(report.rows.values())
    assert db.scalar("select count(*) from users where name = %s", (user_name(3, 59),)) == 1


def test_rows_are_realistic_and_consistent(db: Database) -> None:
    load_sample_data(db.conn, 80, seed=5, anchor=ANCHOR)
    # quizzes and chats (text ids) point at real users and at topics of that user's sessions
    orphans = db.scalar(
        """select count(*) from quizzes q where not exists (
             select from topics t join study_sessions s on s.id = t.session_id
             where t.id::text = q.topic_id and s.user_id::text = q.user_id)"""
    )
    assert orphans == 0
    assert (
        db.scalar(
            """select count(*) from tutor_chats c where not exists (
             select from topics t join study_sessions s on s.id = t.session_id
             where t.id::text = c.topic_id and s.user_id::text = c.user_id)"""
        )
        == 0
    )
    # the agent history is a path through the state machine that ends in the session's phase
    last_action = dict(
        db.conn.execute(
            """select current_state, array_agg(distinct agent_history[cardinality(agent_history)]->>'action')
               from study_sessions group by 1"""
        ).fetchall()
    )
    assert last_action["INTAKE"] == [None]
    assert set(last_action["PLANNING"]) == {"generate_plan", "next_topic"}
    assert set(last_action["LEARNING"]) == {"start_topic"}
    assert set(last_action["QUIZZING"]) == {"take_quiz"}
    assert set(last_action["ANALYZING"]) == {"submit_answers"}
    assert set(last_action["COMPLETED"]) == {"complete"}
    # JSON of realistic size and shape
    size = db.scalar("select avg(length(questions::text)) from quizzes")
    assert 500 < size < 4000
    question = db.scalar("select questions->0 from quizzes limit 1")
    assert {"question", "options", "correct_answer", "explanation"} <= set(question)
    roles = db.scalar(
        "select array_agg(distinct m->>'role') from tutor_chats, jsonb_array_elements(messages) as m"
    )
    assert sorted(roles) == ["assistant", "user"]
    assert db.scalar("select bool_and(created_at <= %s) from quizzes", (ANCHOR,)) is True
    assert db.scalar("select count(*) from misconceptions where topic_id is null") > 0


def test_expired_fraction_edges(db: Database) -> None:
    load_sample_data(db.conn, 20, seed=1, expired_fraction=1.0, anchor=ANCHOR)
    load_sample_data(db.conn, 20, seed=2, expired_fraction=0.0, anchor=ANCHOR)
    assert db.scalar("select count(*) from plan_cache where expires_at < %s", (ANCHOR,)) == 10
    assert db.scalar("select count(*) from plan_cache where expires_at >= %s", (ANCHOR,)) == 10


def test_second_load_of_a_seed_is_refused_another_seed_appends(db: Database) -> None:
    load_sample_data(db.conn, 10, seed=4, anchor=ANCHOR)
    with pytest.raises(OperationFailed, match="sample data of seed 4 is already loaded"):
        load_sample_data(db.conn, 10, seed=4, anchor=ANCHOR)
    load_sample_data(db.conn, 10, seed=5, anchor=ANCHOR)
    assert db.scalar("select count(*) from users") == 20
    report = load_sample_data(db.conn, 10, seed=5, anchor=ANCHOR, skip_loaded=True)
    assert report.skipped and report.total_rows == 0
    assert db.scalar("select count(*) from users") == 20


def test_dry_run_changes_nothing(db: Database) -> None:
    report = load_sample_data(db.conn, 15, seed=1, anchor=ANCHOR, dry_run=True)
    assert report.dry_run and report.rows["quizzes"] > 0
    for table_name in TABLES:
        assert count_rows(db, table_name) == 0


def test_custom_shape_controls_the_mix() -> None:
    shape = SampleShape(
        sessions_per_user=(1, 1), topics_per_session=(5, 5), quizzes_per_topic=(1, 1), chat_probability=1.0
    )
    rows = {c.table: c.rows for c in generate_rows(10, seed=1, anchor=ANCHOR, shape=shape)}
    assert rows["study_sessions"] == 10
    assert rows["topics"] == rows["quizzes"] == rows["tutor_chats"] == 50


@pytest.mark.parametrize(
    ("users", "fraction", "message"),
    [(0, 0.3, "--users must be at least 1, not 0"), (5, 1.5, "--expired-fraction must be between 0 and 1")],
)
def test_library_rejects_bad_input(db: Database, users: int, fraction: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_sample_data(db.conn, users, expired_fraction=fraction)


def test_cli_loads_and_reports(db: Database, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("sample-data", "--users", "12", "--seed", "2", "--anchor", "2026-06-01", url=db.url)
    assert result.exit_code == 0, result.output
    assert "loaded " in result.output and "for 12 users (seed 2)" in result.output
    assert "quizzes" in result.output
    result = run_cli("--json", "sample-data", "--users", "3", "--seed", "9", "--dry-run", url=db.url)
    data = json.loads(result.output)
    assert data["dry_run"] is True and data["users"] == 3 and set(data["rows"]) == set(TABLES)
    assert db.scalar("select count(*) from users") == 12


def test_cli_refuses_a_loaded_seed_with_exit_4(db: Database, run_cli) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("sample-data", "--users", "2", "--seed", "1", url=db.url).exit_code == 0
    result = run_cli("sample-data", "--users", "2", "--seed", "1", url=db.url)
    assert result.exit_code == 4
    assert "Error: sample data of seed 1 is already loaded (user learner-1-0000000 exists)" in result.output
    assert "Hint: pass another --seed, or load into an empty database" in result.output
    result = run_cli("sample-data", "--users", "2", "--seed", "1", "--skip-loaded", url=db.url)
    assert result.exit_code == 0
    assert result.output == "sample data of seed 1 is already loaded; nothing to do\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "0"], "Invalid value for '--users'"),
        (["--users", "5", "--expired-fraction", "2"], "Invalid value for '--expired-fraction'"),
        ([], "Missing option '--users'"),
    ],
)
def test_cli_bad_options_exit_2(db: Database, run_cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("sample-data", *args, url=db.url)
    assert result.exit_code == 2
    assert message in result.output


def test_prefetch_hands_over_the_generator_error() -> None:
    from ops.sample import Chunk, prefetched

    def failing() -> Iterator[Chunk]:
        yield Chunk("users", 1, b"x\n")
        raise ValueError("generator broke")

    got = []
    with pytest.raises(ValueError, match="generator broke"):
        for chunk in prefetched(failing()):
            got.append(chunk)
    assert len(got) == 1


def test_prefetch_stops_when_the_consumer_stops() -> None:
    import threading
    import time

    from ops.sample import Chunk, prefetched

    # two chunks, room for one: after the consumer takes the first, the worker fills the
    # queue with the second and then waits to hand over the end marker
    chunks = prefetched(iter([Chunk("users", 1, b"a\n"), Chunk("users", 1, b"b\n")]), depth=1)
    assert next(chunks).data == b"a\n"
    time.sleep(0.3)
    closer = threading.Thread(target=chunks.close)
    closer.start()
    closer.join(timeout=5)
    assert not closer.is_alive(), "the generator thread blocked the consumer's close"
    assert not [t for t in threading.enumerate() if t.name == "sample-data-generator"]
