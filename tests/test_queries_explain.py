"""Every read pattern is served by its index, and none sorts what the index already orders.

One database per module with at least 100k quizzes and 100k tutor chats (the sample
generator with one quiz and one chat per topic), once under the owner-only RLS model and
once under the shipped policies, and the plans read as the application user (the
policies' predicates included).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from ops import migrations, policies
from ops.db import Conn
from ops.queries.rls import acting_as
from ops.sample import SampleShape, load_sample_data
from ops.sqlfiles import query
from tests.conftest import SERVER, settings_for
from tests.owner_only import POLICY_MODELS, apply_policy_model

pytestmark = pytest.mark.slow
DBNAME = "dbops_query_explain"
SHAPE = SampleShape(
    sessions_per_user=(1, 1),
    topics_per_session=(5, 5),
    quizzes_per_topic=(1, 1),
    chat_probability=1.0,
    messages_per_chat=(2, 4),
    misconceptions_per_topic=(0, 2),
)


@dataclass(frozen=True)
class Big:
    conn: Conn
    user: UUID
    topic: str
    session: UUID
    cache_key: str
    model: str

    def session_row_indexes(self) -> set[str]:
        """Indexes that find one session row: its key; under the shipped policies (whose
        `user_id = (select app.current_user_id())` gives the planner an indexable value, and
        each sample user has one session) also the owner index, as selective here."""
        if self.model == "shipped policies":
            return {"study_sessions_pkey", "idx_study_sessions_user_id"}
        return {"study_sessions_pkey"}


@pytest.fixture(scope="module", params=POLICY_MODELS)
def big(request: pytest.FixtureRequest) -> Iterator[Big]:
    with psycopg.connect(SERVER.url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(DBNAME)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(DBNAME)))
    url = SERVER.url(DBNAME)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            settings = settings_for(url)
            migrations.migrate(conn, settings, after=lambda c: policies.apply_changed(c, settings))
            apply_policy_model(conn, request.param, settings)
            load_sample_data(conn, 20_000, seed=11, shape=SHAPE)
            user, topic = conn.execute("select user_id, topic_id from quizzes limit 1").fetchone()  # type: ignore[misc]
            session = conn.execute(
                "select id from study_sessions where user_id = %s limit 1", (UUID(user),)
            ).fetchone()[0]  # type: ignore[index]
            key = conn.execute(
                "select cache_key from plan_cache where expires_at > now() limit 1"
            ).fetchone()[0]  # type: ignore[index]
            yield Big(conn, UUID(user), topic, session, key, request.param)
    finally:
        with psycopg.connect(SERVER.url("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(DBNAME)))


def plan_nodes(big: Big, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of the plan of ops/queries/sql/<name>.sql, planned as the application user."""
    with acting_as(big.conn, big.user, "authenticated"):
        explain = sql.SQL("explain (format json) ") + query("ops.queries", name)
        row = big.conn.execute(explain, params).fetchone()
    assert row is not None
    nodes, todo = [], [row[0][0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    return nodes


def test_the_database_is_big_enough(big: Big) -> None:
    for table in ("quizzes", "tutor_chats"):
        count = big.conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(table))).fetchone()
        assert count is not None and count[0] >= 100_000


def index_scans(nodes: list[dict[str, Any]]) -> set[str]:
    return {n["Index Name"] for n in nodes if n["Node Type"] in ("Index Scan", "Index Only Scan")}


def kinds(nodes: list[dict[str, Any]]) -> set[str]:
    return {n["Node Type"] for n in nodes}


def test_latest_quiz_reads_the_index_in_order_without_sorting(big: Big) -> None:
    nodes = plan_nodes(big, "q_latest_quiz", {"user_id": str(big.user), "topic_id": big.topic})
    assert "idx_quizzes_user_topic_created" in index_scans(nodes)
    assert "Sort" not in kinds(nodes) and "Seq Scan" not in kinds(nodes)


def test_recent_misconceptions_read_the_index_in_order_without_sorting(big: Big) -> None:
    # a user here has 5 misconceptions on average: asking for fewer is the case where the
    # order matters, and (user_id, detected_at desc) serves it without a sort
    nodes = plan_nodes(big, "q_recent_misconceptions", {"user_id": big.user, "limit": 3})
    assert "idx_misconceptions_user_detected" in index_scans(nodes)
    assert "Sort" not in kinds(nodes) and "Seq Scan" not in kinds(nodes)


def test_recent_misconceptions_beyond_all_of_a_users_rows_still_use_the_index(big: Big) -> None:
    # asking for more than the user has: the planner may fetch all of them through the same
    # index (bitmap) and sort that handful; it never scans the table
    nodes = plan_nodes(big, "q_recent_misconceptions", {"user_id": big.user, "limit": 500})
    used = {n.get("Index Name") for n in nodes if "Index" in n["Node Type"]}
    assert "idx_misconceptions_user_detected" in used
    assert "Seq Scan" not in kinds(nodes)


@pytest.mark.parametrize(
    ("name", "index", "params"),
    [
        (
            "q_get_chat",
            "tutor_chats_user_id_topic_id_key",
            lambda b: {"user_id": str(b.user), "topic_id": b.topic},
        ),
        ("q_load_session", "study_sessions_pkey", lambda b: {"session_id": b.session, "with_history": False}),
        ("q_get_cached_plan", "plan_cache_cache_key_key", lambda b: {"cache_key": b.cache_key}),
        ("q_progress", "idx_topics_session_id", lambda b: {"user_id": b.user}),
        ("q_progress", "idx_study_sessions_user_id", lambda b: {"user_id": b.user}),
    ],
)
def test_point_reads_use_their_index(big: Big, name: str, index: str, params: Any) -> None:
    nodes = plan_nodes(big, name, params(big))
    used = index_scans(nodes) | {n.get("Index Name") for n in nodes if n["Node Type"] == "Bitmap Index Scan"}
    wanted = big.session_row_indexes() if index == "study_sessions_pkey" else {index}
    assert used & wanted, nodes
    assert "Seq Scan" not in kinds(nodes)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        (
            "q_save_session",
            lambda b: {
                "session_id": b.session,
                "expected_phase": "INTAKE",
                "action": "generate_plan",
                "next_phase": "PLANNING",
                "context": None,
            },
        ),
        ("q_log_action", lambda b: {"session_id": b.session, "action": "x", "payload": "{}"}),
        ("q_session_phase", lambda b: {"session_id": b.session}),
    ],
)
def test_session_writes_find_their_row_by_index(big: Big, name: str, params: Any) -> None:
    nodes = plan_nodes(big, name, params(big))
    assert index_scans(nodes) & big.session_row_indexes(), nodes
    assert "Seq Scan" not in kinds(nodes)


def test_a_sequential_scan_would_be_caught(big: Big) -> None:
    """The check is not vacuous: a read by an unindexed column shows a Seq Scan."""
    row = big.conn.execute("explain (format json) select * from quizzes where questions @> '[]'").fetchone()
    assert row is not None
    nodes, todo = [], [row[0][0]["Plan"]]
    while todo:
        nodes.append(todo.pop())
        todo.extend(nodes[-1].get("Plans", []))
    assert {"Seq Scan", "Parallel Seq Scan"} & kinds(nodes)
