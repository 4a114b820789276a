"""Row-level security proven from outside: as a LOGIN role that is no superuser, has no
BYPASSRLS and owns no table, every managed table x operation x caller behaves as the model
says, and every policy and every table's RLS switch is needed (mutation run)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg import errors as pgerrors
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ops import policies
from ops.config import Settings
from ops.db import Conn
from ops.policies import read_states
from ops.queries.rls import acting_as
from tests import rls_matrix as m
from tests.conftest import SERVER, settings_for

FX = m.Fixture()
CELLS = m.cells(FX)


@dataclass
class RlsEnv:
    url: str
    admin: Conn
    tester: Conn
    settings: Settings
    tables: list[str]


def _tester_attributes(conn: Conn, tables: list[str]) -> dict[str, Any]:
    row = conn.execute(
        "select rolsuper, rolbypassrls, rolcanlogin from pg_roles where rolname = current_user"
    ).fetchone()
    assert row is not None
    owns = conn.execute(
        "select array_agg(n.nspname || '.' || c.relname) from pg_class as c"
        " inner join pg_namespace as n on c.relnamespace = n.oid"
        " where n.nspname || '.' || c.relname = any(%s::text[])"
        " and pg_has_role(current_user, c.relowner, 'MEMBER')",
        (tables,),
    ).fetchone()
    member_of = conn.execute(
        "select array_agg(r order by r) from unnest(array['anon', 'authenticated', 'service_role']) as r"
        " where pg_has_role(current_user, r, 'MEMBER')"
    ).fetchone()
    return {
        "superuser": row[0],
        "bypassrls": row[1],
        "login": row[2],
        "owns": (owns[0] if owns else None) or [],
        "member_of": (member_of[0] if member_of else None) or [],
    }


@pytest.fixture(scope="module")
def rls_env(postgresql_migrated_proc: Any) -> Iterator[RlsEnv]:
    """A database of its own (from the migrated template, policies applied), seeded once."""
    name = f"dbops_rls_{secrets.token_hex(4)}"
    with psycopg.connect(SERVER.url("postgres"), autocommit=True) as maint:
        maint.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(postgresql_migrated_proc.template_dbname)
            )
        )
        password = m.ensure_tester(maint)
    url = SERVER.url(name)
    settings = settings_for(url)
    tables = [f.table for f in policies.read_policy_dir(settings.policies_dir)]
    try:
        with (
            psycopg.connect(url, autocommit=True) as admin,
            psycopg.connect(make_conninfo(url, user=m.TESTER, password=password), autocommit=True) as tester,
        ):
            # before anything else: a privileged tester would make every test below meaningless
            attributes = _tester_attributes(tester, tables)
            assert attributes == {
                "superuser": False,
                "bypassrls": False,
                "login": True,
                "owns": [],
                "member_of": ["anon", "authenticated", "service_role"],
            }, attributes
            m.seed(admin, FX)
            yield RlsEnv(url, admin, tester, settings, tables)
    finally:
        with psycopg.connect(SERVER.url("postgres"), autocommit=True) as maint:
            maint.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def test_tester_is_no_superuser_has_no_bypassrls_and_owns_no_table(rls_env: RlsEnv) -> None:
    attributes = _tester_attributes(rls_env.tester, rls_env.tables)
    assert (attributes["superuser"], attributes["bypassrls"], attributes["owns"]) == (False, False, [])
    assert rls_env.tester.info.parameter_status("is_superuser") == "off"
    roles = dict(
        rls_env.tester.execute(
            "select rolname, rolbypassrls from pg_roles"
            " where rolname in ('anon', 'authenticated', 'service_role')"
        ).fetchall()
    )
    assert roles == {"anon": False, "authenticated": False, "service_role": True}


def test_every_managed_table_is_in_the_matrix(rls_env: RlsEnv) -> None:
    assert {s.table for s in m.subjects(FX)} == set(rls_env.tables)
    assert len(rls_env.tables) == 12


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_matrix(rls_env: RlsEnv, cell: m.Cell) -> None:
    outcome = m.run_cell(rls_env.tester, cell)
    verb = "reach" if cell.expected else "not reach"
    assert outcome.allowed == cell.expected, f"{cell.id}: expected the statement to {verb} the row"
    if not cell.expected:
        control = cell.control()
        assert m.run_cell(rls_env.tester, control).allowed, f"positive control {control.id} failed"


def test_claims_do_not_survive_the_transaction(rls_env: RlsEnv) -> None:
    conn = rls_env.tester
    with acting_as(conn, FX.user_a):
        assert conn.execute("select count(*) from quizzes").fetchone() == (1,)
    # the same connection, a new transaction with no claims: nothing of user A is left
    with conn.transaction():
        assert conn.execute(
            "select current_user, current_setting('request.jwt.claims', true)"
        ).fetchone() in (
            (m.TESTER, None),
            (m.TESTER, ""),
        )
        conn.execute("set local role authenticated")
        assert conn.execute("select app.current_user_id()").fetchone() == (None,)
        for table in ("users", "study_sessions", "topics", "misconceptions", "tutor_chats", "quizzes"):
            q = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
            assert conn.execute(q).fetchone() == (0,), table
    with pytest.raises(pgerrors.InsufficientPrivilege), conn.transaction():
        conn.execute("select count(*) from quizzes")  # the login role itself has no grant


def test_acting_as_inside_an_open_transaction_puts_the_caller_back(rls_env: RlsEnv) -> None:
    conn = rls_env.tester
    probe = "select current_user, app.current_user_id()"
    with conn.transaction():
        with acting_as(conn, FX.user_b, "authenticated"):
            with acting_as(conn, FX.user_a):
                assert conn.execute(probe).fetchone() == ("authenticated", FX.user_a)
            # the inner block's savepoint is released; its caller must not stay in force
            assert conn.execute(probe).fetchone() == ("authenticated", FX.user_b)
        assert conn.execute("select current_user").fetchone() == (m.TESTER,)
        with pytest.raises(pgerrors.InsufficientPrivilege), conn.transaction():
            conn.execute("select count(*) from quizzes")


def _per_row_calls(plan: list[str]) -> list[str]:
    """Plan lines that filter rows by evaluating current_user_id() (called, or inlined into its
    expression over the claims) instead of reading an InitPlan's result."""
    return [
        line
        for line in plan
        if ("current_user_id()" in line or "request.jwt.claims" in line)
        and ("Filter:" in line or "Cond:" in line)
    ]


def _plan(conn: Conn, query: sql.Composable) -> list[str]:
    return [r[0] for r in conn.execute(sql.SQL("explain (verbose, costs off) {}").format(query)).fetchall()]


def test_caller_id_is_read_once_per_statement_as_an_initplan(rls_env: RlsEnv) -> None:
    conn = rls_env.tester
    for table in ("users", "study_sessions", "misconceptions", "tutor_chats", "quizzes"):
        with acting_as(conn, FX.user_a):
            plan = _plan(conn, sql.SQL("select * from {}").format(sql.Identifier(table)))
        assert any(line.strip().startswith("InitPlan") for line in plan), (table, plan)
        assert any("(InitPlan" in line and ("Filter:" in line or "Cond:" in line) for line in plan), plan
        assert _per_row_calls(plan) == [], (table, plan)
    # the check can fail: a predicate calling the function directly is evaluated per row
    with acting_as(conn, None, "service_role"):
        plan = _plan(conn, sql.SQL("select * from quizzes where user_id = app.current_user_id()::text"))
    assert _per_row_calls(plan), plan


def test_a_misconception_cannot_point_at_another_users_topic(rls_env: RlsEnv) -> None:
    conn = rls_env.tester
    insert = "insert into misconceptions (user_id, topic_id, description) values (%s, %s, 'x')"
    with (
        pytest.raises(pgerrors.InsufficientPrivilege, match="row-level security"),
        acting_as(conn, FX.user_a),
    ):
        conn.execute(insert, (FX.user_a, FX.topic_b))
    with acting_as(conn, FX.user_a):
        conn.execute(insert, (FX.user_a, FX.topic_a))
        raise psycopg.Rollback()


def test_a_user_cannot_change_its_own_id(rls_env: RlsEnv) -> None:
    conn = rls_env.tester
    with (
        pytest.raises(pgerrors.InsufficientPrivilege, match="row-level security"),
        acting_as(conn, FX.user_c),
    ):
        conn.execute("update users set id = %s", (uuid4(),))


def test_anon_logs_in_through_app_login_and_reads_nothing(rls_env: RlsEnv) -> None:
    conn = rls_env.tester
    with acting_as(conn, None, "anon"):
        row = conn.execute("select app.login('alice')").fetchone()
        assert row == (FX.user_a,)
        with pytest.raises(pgerrors.InsufficientPrivilege), conn.transaction():
            conn.execute("select id from users")
        raise psycopg.Rollback()


def test_no_open_policy_for_anon_or_authenticated_remains(rls_env: RlsEnv) -> None:
    rows = rls_env.admin.execute(
        """
        select polrelid::regclass::text, polname from pg_policy
        where (0 = any(polroles) or polroles && array[to_regrole('anon'), to_regrole('authenticated')]::oid[])
          and polcmd <> 'r'
          and (pg_get_expr(polqual, polrelid) = 'true' or pg_get_expr(polwithcheck, polrelid) = 'true')
        """
    ).fetchall()
    assert rows == []


@pytest.mark.slow
def test_mutation_run_kills_every_mutant(rls_env: RlsEnv, capsys: pytest.CaptureFixture[str]) -> None:
    """Each policy dropped, each predicate -> true, each table's RLS off: some cell must fail."""
    admin, started = rls_env.admin, time.monotonic()
    found = m.mutants(read_states(admin, rls_env.tables).values())
    survivors = []
    for mutant in found:
        admin.execute(mutant.statement)
        try:
            first = [c for c in CELLS if c.subject.table == mutant.table]
            rest = [c for c in CELLS if c.subject.table != mutant.table]
            if m.killing_cell(rls_env.tester, first + rest) is None:
                survivors.append(mutant.label)
        finally:
            admin.execute(mutant.revert)
    killed = len(found) - len(survivors)
    rate = 100.0 * killed / len(found)
    with capsys.disabled():
        print(
            f"\nRLS mutation run: {killed}/{len(found)} mutants killed, kill rate {rate:.1f}%; "
            f"matrix size {len(CELLS)} cells ({len(m.subjects(FX))} subjects over {len(rls_env.tables)} "
            f"tables x {len(m.OPS)} operations x {len(m.CALLERS)} callers); "
            f"{time.monotonic() - started:.1f} s"
        )
    assert survivors == []
    assert len(found) >= len(rls_env.tables) * 2
    # every mutant was reverted exactly: the live policies are the files' again
    assert policies.diff(admin, rls_env.settings).differences == ()


def test_mutation_run_reports_a_policy_no_test_needs(rls_env: RlsEnv) -> None:
    """The run can fail: dropping a policy that grants nothing changes no cell, so it survives."""
    admin = rls_env.admin
    admin.execute("create policy quizzes_pointless on quizzes for select to authenticated using (false)")
    try:
        state = read_states(admin, ["public.quizzes"])["public.quizzes"]
        (drop,) = [
            x for x in m.mutants([state]) if x.policy == "quizzes_pointless" and x.kind == "drop policy"
        ]
        admin.execute(drop.statement)
        assert m.killing_cell(rls_env.tester, CELLS) is None
        admin.execute(drop.revert)
    finally:
        admin.execute("drop policy if exists quizzes_pointless on quizzes")


def test_every_owner_column_leads_an_index(rls_env: RlsEnv) -> None:
    """The predicates filter on the owner columns: each must be the first column of an index."""
    owner_columns = {(s.table, s.owner_column) for s in m.subjects(FX) if s.owner_column} | {
        ("public.users", "id")
    }
    assert len(owner_columns) == 11
    unindexed = [
        (table, column)
        for table, column in sorted(owner_columns)
        if not rls_env.admin.execute(
            "select exists (select from pg_index as i"
            " join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]"
            " where i.indrelid = %s::regclass and a.attname = %s)",
            (table, column),
        ).fetchone()[0]  # type: ignore[index]
    ]
    assert unindexed == []
