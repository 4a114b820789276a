"""One attacker script against a migrated database with sample data and archived rows.

A signed-in user (`authenticated` with its own id in the claims) and an anonymous caller
(`anon`) try what issue 13 found and its neighbours: chosen ids on every table, the ids of
archived rows, moving rows to another user, malformed claims, every SECURITY DEFINER
function, every archive table. Every attempt must be refused (an error, or no row reached),
nothing in the database may change, and the retention run afterwards exits 0 with every
rule run to its end and no unit skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ops.queries.rls import acting_as
from ops.sample import load_sample_data
from tests import rls_matrix as m
from tests.conftest import SERVER, Database

LIVE = ("study_sessions", "topics", "misconceptions", "tutor_chats", "quizzes")
OWNER_COLUMN = {
    "study_sessions": "user_id",
    "misconceptions": "user_id",
    "tutor_chats": "user_id",
    "quizzes": "user_id",
}


@dataclass
class Attack:
    conn: psycopg.Connection[Any]
    through: list[str] = field(default_factory=list)  # attempts that got through
    tried: int = 0

    def attempt(
        self,
        label: str,
        user: UUID | None,
        role: str,
        query: Any,
        params: Any = None,
        claims: str | None = None,
    ) -> None:
        """Run one statement as the caller; it must fail, or reach no row."""
        self.tried += 1
        with acting_as(self.conn, user, role):
            if claims is not None:
                self.conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
            try:
                with self.conn.transaction():
                    cur = self.conn.execute(query, params)
                    reached = cur.rowcount if cur.description is None else len(cur.fetchall())
                    if cur.description is not None and reached == 1 and cur.description[0].name == "count":
                        reached = 0  # a count(*) answers one row; what it counts is checked by the caller
                    raise psycopg.Rollback() if reached == 0 else _Through(reached)
            except psycopg.Error:
                return
            except _Through as got:
                self.through.append(f"{label} ({role}): reached {got.rows} row(s)")


class _Through(Exception):
    def __init__(self, rows: int) -> None:
        super().__init__(rows)
        self.rows = rows


def fingerprint(conn: psycopg.Connection[Any]) -> dict[str, str]:
    tables = conn.execute(
        "select format('%I.%I', schemaname, tablename) from pg_tables"
        " where schemaname in ('public', 'archive') and tablename not like '%yoyo%' order by 1"
    ).fetchall()
    found = {}
    for (table,) in tables:
        query = sql.SQL("select coalesce(md5(string_agg(t::text, '' order by t::text)), '') from {} as t")
        row = conn.execute(query.format(sql.SQL(table))).fetchone()
        found[table] = row[0] if row else ""
    return found


@pytest.fixture
def tester(db: Database) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(SERVER.url("postgres"), autocommit=True) as maint:
        password = m.ensure_tester(maint)
    with psycopg.connect(make_conninfo(db.url, user=m.TESTER, password=password), autocommit=True) as conn:
        assert conn.execute(
            "select rolsuper, rolbypassrls from pg_roles where rolname = current_user"
        ).fetchone() == (
            False,
            False,
        )
        yield conn


@pytest.mark.slow
def test_every_attack_is_refused_and_retention_still_runs_every_rule(
    db: Database, tester: psycopg.Connection[Any], run_cli: Any, tmp_path: Path
) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    load_sample_data(db.conn, 30, seed=131, anchor=old)
    assert run_cli("retention", "run", url=db.url).exit_code == 0
    load_sample_data(db.conn, 10, seed=132)  # live rows, recent
    for table in LIVE:
        assert db.scalar(f"select count(*) from archive.{table}") > 0, table
    victim = db.scalar("select user_id from archive.study_sessions order by id limit 1")
    me = db.scalar(
        "select s.user_id from study_sessions as s join topics as t on t.session_id = s.id"
        " join misconceptions as x on x.topic_id = t.id where s.created_at > now() - interval '200 days'"
        " order by s.id limit 1"
    )
    assert victim and me and victim != me
    archived = {t: db.scalar(f"select id from archive.{t} order by id limit 1") for t in LIVE}
    mine = {
        "study_sessions": db.scalar("select id from study_sessions where user_id = %s limit 1", (me,)),
        "topics": db.scalar(
            "select t.id from topics as t join study_sessions as s on s.id = t.session_id"
            " where s.user_id = %s limit 1",
            (me,),
        ),
        "misconceptions": db.scalar("select id from misconceptions where user_id = %s limit 1", (me,)),
    }
    victims_topic = db.scalar(
        "select t.id from topics as t join study_sessions as s on s.id = t.session_id"
        " where s.user_id <> %s limit 1",
        (me,),
    )
    victims_name = db.scalar("select name from users where id = %s", (victim,))
    victims_live_session = db.scalar("select id from study_sessions where user_id <> %s limit 1", (me,))
    before = fingerprint(db.conn)
    attack = Attack(tester)

    def rows_for(table: str, owner: UUID) -> dict[str, Any]:
        """A row the attacker may write, apart from the columns under attack."""
        if table == "study_sessions":
            return {"user_id": owner, "exam_type": "GRE"}
        if table == "topics":
            return {"session_id": mine["study_sessions"], "name": "planted"}
        if table == "misconceptions":
            return {"user_id": owner, "description": "planted"}
        return {
            "user_id": str(owner),
            "topic_id": "planted",
            **({"questions": "[]"} if table == "quizzes" else {"explanation": ""}),
        }

    def insert(table: str, row: dict[str, Any]) -> sql.Composed:
        return sql.SQL("insert into {} ({}) values ({})").format(
            sql.Identifier("public", table),
            sql.SQL(", ").join(map(sql.Identifier, row)),
            sql.SQL(", ").join(map(sql.Placeholder, row)),
        )

    # chosen ids (fresh, and the ids of archived rows) and chosen timestamps, on every table
    for table in (*LIVE, "users", "plan_cache"):
        base = (
            rows_for(table, me)
            if table in LIVE
            else {"name": "x"}
            if table == "users"
            else {"cache_key": "x", "plan": "{}"}
        )
        for label, extra in (
            ("chosen id", {"id": uuid4()}),
            ("archived id", {"id": archived.get(table) or uuid4()}),
            ("back-dated", {"created_at": "2001-01-01"} if table != "topics" else {"id": uuid4()}),
        ):
            row = {**base, **extra}
            for role in ("authenticated", "anon"):
                attack.attempt(f"{table}: {label}", me, role, insert(table, row), row)
        for column in ("id", "created_at", "updated_at", "detected_at", "last_updated"):
            has = db.scalar(
                "select count(*) from information_schema.columns where table_schema = 'public'"
                " and table_name = %s and column_name = %s",
                (table, column),
            )
            if has:
                value = archived.get(table) or uuid4() if column == "id" else "2001-01-01"
                query = sql.SQL("update {} set {} = %s").format(
                    sql.Identifier("public", table), sql.Identifier(column)
                )
                attack.attempt(f"{table}: set {column}", me, "authenticated", query, (value,))

    # moving rows to another user, or under another user's session or topic
    for table, column in OWNER_COLUMN.items():
        value = victim if table in ("study_sessions", "misconceptions") else str(victim)
        query = sql.SQL("update {} set {} = %s").format(
            sql.Identifier("public", table), sql.Identifier(column)
        )
        attack.attempt(f"{table}: move to victim", me, "authenticated", query, (value,))
    attack.attempt(
        "topics: into victim's session",
        me,
        "authenticated",
        "update public.topics set session_id = %s",
        (victims_live_session,),
    )
    attack.attempt(
        "misconceptions: onto victim's topic",
        me,
        "authenticated",
        "update public.misconceptions set topic_id = %s where id = %s",
        (victims_topic, mine["misconceptions"]),
    )
    attack.attempt(
        "users: take victim's name",
        me,
        "authenticated",
        "update public.users set name = %s",
        (victims_name,),
    )
    for table in (*LIVE, "users"):
        attack.attempt(
            f"{table}: delete another's rows",
            victim,
            "authenticated",
            sql.SQL("delete from {} where false").format(sql.Identifier("public", table)),
        )

    # malformed claims: no row of anyone, or an error
    malformed = [
        "not json",
        '{"sub": 5}',
        f'{{"sub": ["{victim}"]}}',
        f'{{"sub": "{victim} "}}',
        '{"sub": null}',
        "{}",
        f'{{"sub": "{victim}"',
        '{"sub": "' + "0" * 40 + '"}',
    ]
    for claims in malformed:
        for table in (*LIVE, "users"):
            for schema in ("public", "archive") if table != "users" else ("public",):
                query = sql.SQL("select 1 from {}").format(sql.Identifier(schema, table))
                attack.attempt(
                    f"{schema}.{table}: claims {claims!r}", None, "authenticated", query, claims=claims
                )

    # every SECURITY DEFINER function, as anon and as authenticated
    definers = db.conn.execute(
        "select p.oid::regproc::text, array(select format_type(t, null) from unnest(p.proargtypes) as t)"
        " from pg_proc as p join pg_namespace as n on p.pronamespace = n.oid"
        " where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')"
    ).fetchall()
    assert "app.login" in {name for name, _ in definers}
    for name, types in definers:
        args = sql.SQL(", ").join(sql.SQL("null::{}").format(sql.SQL(t)) for t in types)
        call = sql.SQL("select {}({})").format(sql.SQL(name), args)
        for role in ("anon", "authenticated"):
            attack.attempt(f"{name}()", me, role, call)
        attack.attempt(f"{name}('victim')", me, "anon", "select app.login('learner-131-0')")

    # every archive table: another user's rows unseen, no write of any kind
    for table in LIVE:
        target = sql.Identifier("archive", table)
        owner = {"topics": "(select user_id from archive.study_sessions as s where s.id = session_id)"}.get(
            table, "user_id::text"
        )
        attack.attempt(
            f"archive.{table}: read another's",
            me,
            "authenticated",
            sql.SQL("select 1 from {} where {}::text <> %s").format(target, sql.SQL(owner)),
            (str(me),),
        )
        for role in ("authenticated", "anon"):
            attack.attempt(f"archive.{table}: delete", me, role, sql.SQL("delete from {}").format(target))
            attack.attempt(
                f"archive.{table}: update", me, role, sql.SQL("update {} set id = id").format(target)
            )
            attack.attempt(
                f"archive.{table}: insert",
                me,
                role,
                sql.SQL("insert into {} select * from {} limit 1").format(target, target),
            )
    # and the live session id of an archived session's topics, planted through the API
    attack.attempt(
        "study_sessions: archived session's id",
        me,
        "authenticated",
        "insert into public.study_sessions (id, user_id, exam_type) values (%s, %s, 'GRE')",
        (archived["study_sessions"], me),
    )

    # anon: nothing at all
    for table in (*LIVE, "users", "plan_cache"):
        for schema in ("public", "archive") if table in LIVE else ("public",):
            attack.attempt(
                f"anon reads {schema}.{table}",
                None,
                "anon",
                sql.SQL("select 1 from {}").format(sql.Identifier(schema, table)),
            )

    assert attack.through == []
    assert attack.tried > 200
    assert fingerprint(db.conn) == before
    metrics = tmp_path / "retention.prom"
    result = run_cli("retention", "run", "--metrics-file", str(metrics), url=db.url)
    assert result.exit_code == 0, result.output
    text = metrics.read_text()
    for rule in ("plan_cache", "quizzes", "tutor_chats", "sessions"):
        assert f'dbops_retention_rule_completed{{rule="{rule}"}} 1' in text, rule
        assert f'dbops_retention_skipped_units{{rule="{rule}"}} 0' in text, rule
