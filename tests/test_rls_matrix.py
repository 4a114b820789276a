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
from tests import rls_mutants as mx
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
        conn.execute("select count(*) from public.quizzes")  # the login role itself has no grant


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
            conn.execute("select count(*) from public.quizzes")


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
    """Refused by the column privilege (0016) before the policy's check is reached."""
    conn = rls_env.tester
    with (
        pytest.raises(pgerrors.InsufficientPrivilege, match="permission denied for table users"),
        acting_as(conn, FX.user_c),
    ):
        conn.execute("update users set id = %s", (uuid4(),))


def test_the_backend_logs_in_as_service_role_and_anon_can_do_nothing(rls_env: RlsEnv) -> None:
    conn = rls_env.tester
    with acting_as(conn, None, "service_role"):
        assert conn.execute("select app.login('alice')").fetchone() == (FX.user_a,)
        raise psycopg.Rollback()
    with acting_as(conn, None, "anon"):
        for query in ("select app.login('alice')", "select id from public.users"):
            with pytest.raises(pgerrors.InsufficientPrivilege), conn.transaction():
                conn.execute(query)


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


_OWNER_IN_SUBQUERY = "s.user_id = (SELECT app.current_user_id() AS current_user_id)"
_SESSIONS = ("public.study_sessions", "study_sessions_select_own")
_TOPICS = ("public.topics", "topics_select_own")
_REPEATS_SESSIONS = (
    "the EXISTS reads study_sessions under its own RLS, which admits only the caller's sessions,"
    " so the conjunct repeats study_sessions_select_own (kept so the policy holds on its own)"
)
_REPEATS_BOTH = (
    "the EXISTS joins topics and study_sessions under their own RLS, which admit only the"
    " caller's topics and sessions, so the conjunct repeats topics_select_own and"
    " study_sessions_select_own (kept so the policy holds on its own)"
)
# Mutants no cell can kill because they do not change who may do what: label -> (the reason,
# the SELECT policies whose work the dropped part repeats). The run fails if one of these is
# killed (the reason no longer holds) or another mutant survives; and each listed one must
# be killed once those policies are opened up too, which proves its reason.
EQUIVALENT: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    **{
        f"public.topics topics_{policy} {clause}: drop conjunct: {_OWNER_IN_SUBQUERY}": (
            _REPEATS_SESSIONS,
            (_SESSIONS,),
        )
        for policy, clause in (
            ("select_own", "using"),
            ("insert_own", "with check"),
            ("update_own", "using"),
            ("update_own", "with check"),
            ("delete_own", "using"),
        )
    },
    **{
        f"public.misconceptions misconceptions_{policy} with check: drop conjunct: {_OWNER_IN_SUBQUERY}": (
            _REPEATS_BOTH,
            (_TOPICS, _SESSIONS),
        )
        for policy in ("insert_own", "update_own")
    },
    f"archive.topics archive_topics_select_own using: drop conjunct: {_OWNER_IN_SUBQUERY}": (
        "the EXISTS reads archive.study_sessions under its own RLS, which admits only the"
        " caller's archived sessions (archive_study_sessions_select_own)",
        (("archive.study_sessions", "archive_study_sessions_select_own"),),
    ),
}


def _opened(
    admin: psycopg.Connection[Any], policies_: tuple[tuple[str, str], ...]
) -> tuple[sql.Composable, sql.Composable]:
    """ALTER POLICY ... USING (true) for each, and the statements that put the catalog's text back."""
    opened, back = [], []
    for table, name in policies_:
        schema, _, rel = table.partition(".")
        live = admin.execute(
            "select pg_get_expr(polqual, polrelid) from pg_policy"
            " where polrelid = %s::regclass and polname = %s",
            (table, name),
        ).fetchone()
        assert live is not None and live[0], (table, name)
        target = sql.SQL("alter policy {} on {}.{} using ").format(
            sql.Identifier(name), sql.Identifier(schema), sql.Identifier(rel)
        )
        opened.append(target + sql.SQL("(true)"))
        back.append(target + sql.SQL("({})").format(sql.SQL(live[0])))
    return sql.SQL("; ").join(opened), sql.SQL("; ").join(back)


def _survives(rls_env: RlsEnv, table: str, statement: sql.Composable, revert: sql.Composable) -> bool:
    admin = rls_env.admin
    admin.execute(statement)
    try:
        first = [c for c in CELLS if c.subject.table == table]
        rest = [c for c in CELLS if c.subject.table != table]
        return m.killing_cell(rls_env.tester, first + rest) is None
    finally:
        admin.execute(revert)


@pytest.mark.slow
def test_mutation_run_kills_every_mutant(rls_env: RlsEnv, capsys: pytest.CaptureFixture[str]) -> None:
    """Whole policies (dropped, predicate -> true, RLS off) and parts of their expressions
    (a conjunct or disjunct dropped, `=` -> `<>`, a column for another of its type): a cell
    must fail for each, or the mutant is a listed equivalent one."""
    admin, started = rls_env.admin, time.monotonic()
    states = read_states(admin, rls_env.tables).values()
    whole = m.mutants(states)
    parts = mx.expression_mutants(states, mx.column_types(admin))
    labels = [x.label for x in whole] + [x.label for x in parts]
    assert len(set(labels)) == len(labels), "two mutants share a label"
    operators: dict[str, list[int]] = {}  # operator -> [mutants, killed, equivalent]
    survivors = []
    for mutant in [*whole, *parts]:
        operator = mutant.kind if isinstance(mutant, m.Mutant) else mutant.operator
        counts = operators.setdefault(operator, [0, 0, 0])
        counts[0] += 1
        if _survives(rls_env, mutant.table, mutant.statement, mutant.revert):
            survivors.append(mutant.label)
            counts[2] += mutant.label in EQUIVALENT
        else:
            counts[1] += 1
    total, killed = len(labels), len(labels) - len(survivors)
    equivalent = sum(1 for x in survivors if x in EQUIVALENT)
    with capsys.disabled():
        print(f"\nRLS mutation run ({len(CELLS)} cells, {time.monotonic() - started:.1f} s):")
        for operator, (made, dead, same) in operators.items():
            print(f"  {operator}: {made} mutants, {dead} killed, {same} equivalent")
        rate = 100.0 * killed / (total - equivalent)
        print(
            f"  total: {len(operators)} operators, {total} mutants, {killed} killed, {equivalent} equivalent;"
            f" kill rate {rate:.1f}% of the non-equivalent"
        )
        for label in survivors:
            print(f"  survived: {label}" + (" (equivalent)" if label in EQUIVALENT else ""))
    assert [x for x in survivors if x not in EQUIVALENT] == []
    assert sorted(set(EQUIVALENT) - set(survivors)) == [], "listed as equivalent but killed"
    by_label = {x.label: x for x in parts}
    for label, (_, repeated) in EQUIVALENT.items():
        mutant, (open_up, put_back) = by_label[label], _opened(admin, repeated)
        admin.execute(open_up)
        try:
            assert not _survives(rls_env, mutant.table, mutant.statement, mutant.revert), label
        finally:
            admin.execute(put_back)
    # every mutant was reverted exactly: the live policies are the files' again
    assert policies.diff(admin, rls_env.settings).differences == ()
    assert len(whole) >= len(rls_env.tables) * 2 and len(parts) > len(whole)


def test_every_reference_a_user_may_write_is_tried_against_another_users_row(rls_env: RlsEnv) -> None:
    """Each foreign-key column that authenticated may INSERT or UPDATE has insert/update fk cells."""
    writable = rls_env.admin.execute(
        """
        select distinct n.nspname || '.' || c.relname, a.attname
        from pg_constraint as k
        join pg_class as c on c.oid = k.conrelid
        join pg_namespace as n on n.oid = c.relnamespace
        join pg_attribute as a on a.attrelid = k.conrelid and a.attnum = any(k.conkey)
        where k.contype = 'f'
          and (has_column_privilege('authenticated', c.oid, a.attnum, 'INSERT')
               or has_column_privilege('authenticated', c.oid, a.attnum, 'UPDATE'))
        """
    ).fetchall()
    tried = {(c.subject.table, c.op.rpartition(" ")[2]) for c in CELLS if " fk " in c.op}
    assert set(writable) <= tried
    assert {(t, c) for t, c in writable} == {
        ("public.study_sessions", "user_id"),
        ("public.topics", "session_id"),
        ("public.misconceptions", "user_id"),
        ("public.misconceptions", "topic_id"),
    }
    for cell in (c for c in CELLS if " fk " in c.op):
        assert cell.expected == (cell.caller == "service_role"), cell.id


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
