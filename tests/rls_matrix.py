"""The RLS access matrix: every managed table x operation x caller, with its expected outcome.

A cell runs one statement as one caller (through ops.queries.rls.acting_as, on a connection of
a LOGIN role that is neither superuser, nor BYPASSRLS, nor the tables' owner), then looks
at the target row as service_role inside the same transaction to see whether the
statement reached it, and rolls everything back. UPDATE and DELETE have no WHERE clause:
a WHERE that reads columns makes PostgreSQL apply the SELECT policies too, which would
hide a broken UPDATE or DELETE policy behind a correct SELECT one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql

from ops.db import Conn
from ops.policies import create_statement, qualified
from ops.queries.rls import acting_as

TESTER = "dbops_rls_tester"
OPS = ("select", "insert", "update", "move", "delete")
CALLERS = ("owner", "other", "anon", "service_role")
STAMP = "2001-02-03 04:05:06+00"


@dataclass(frozen=True)
class Fixture:
    """Ids of the rows every cell works on: a = the owner's, b = the other user's."""

    user_a: UUID = field(default_factory=uuid4)
    user_b: UUID = field(default_factory=uuid4)
    user_c: UUID = field(default_factory=uuid4)  # the users-table subject: a user without rows elsewhere
    session_a: UUID = field(default_factory=uuid4)
    session_b: UUID = field(default_factory=uuid4)
    topic_a: UUID = field(default_factory=uuid4)
    topic_b: UUID = field(default_factory=uuid4)
    misconception_a: UUID = field(default_factory=uuid4)
    misconception_b: UUID = field(default_factory=uuid4)
    plan_fresh: UUID = field(default_factory=uuid4)
    plan_expired: UUID = field(default_factory=uuid4)
    chat_a: UUID = field(default_factory=uuid4)
    chat_b: UUID = field(default_factory=uuid4)
    quiz_a: UUID = field(default_factory=uuid4)
    quiz_b: UUID = field(default_factory=uuid4)
    archived_session_a: UUID = field(default_factory=uuid4)
    archived_session_b: UUID = field(default_factory=uuid4)
    archived_topic_a: UUID = field(default_factory=uuid4)
    archived_topic_b: UUID = field(default_factory=uuid4)
    archived_misconception_a: UUID = field(default_factory=uuid4)
    archived_misconception_b: UUID = field(default_factory=uuid4)
    archived_chat_a: UUID = field(default_factory=uuid4)
    archived_chat_b: UUID = field(default_factory=uuid4)
    archived_quiz_a: UUID = field(default_factory=uuid4)
    archived_quiz_b: UUID = field(default_factory=uuid4)
    # rows for the other branch of a disjunction: a misconception without a topic, a cache
    # entry that never expires, an archived topic whose session is still live
    misconception_a_no_topic: UUID = field(default_factory=uuid4)
    plan_no_expiry: UUID = field(default_factory=uuid4)
    archived_topic_of_live_a: UUID = field(default_factory=uuid4)


SEED = """
insert into users (id, name) values (%(user_a)s, 'alice'), (%(user_b)s, 'bob'), (%(user_c)s, 'carol');
insert into study_sessions (id, user_id, exam_type) values
    (%(session_a)s, %(user_a)s, 'GRE'), (%(session_b)s, %(user_b)s, 'GRE');
insert into topics (id, session_id, name) values
    (%(topic_a)s, %(session_a)s, 'algebra'), (%(topic_b)s, %(session_b)s, 'algebra');
insert into misconceptions (id, user_id, topic_id, description) values
    (%(misconception_a)s, %(user_a)s, %(topic_a)s, 'sign'),
    (%(misconception_b)s, %(user_b)s, %(topic_b)s, 'sign'),
    (%(misconception_a_no_topic)s, %(user_a)s, null, 'no topic');
insert into plan_cache (id, cache_key, plan, expires_at) values
    (%(plan_fresh)s, 'fresh', '{}', now() + interval '1 day'),
    (%(plan_expired)s, 'expired', '{}', now() - interval '1 day'),
    (%(plan_no_expiry)s, 'forever', '{}', null);
insert into tutor_chats (id, user_id, topic_id, explanation) values
    (%(chat_a)s, %(user_a)s::text, 'topic-a', ''), (%(chat_b)s, %(user_b)s::text, 'topic-b', '');
insert into quizzes (id, user_id, topic_id, questions) values
    (%(quiz_a)s, %(user_a)s::text, 'topic-a', '[]'), (%(quiz_b)s, %(user_b)s::text, 'topic-b', '[]');
insert into archive.study_sessions (id, user_id, exam_type, current_state) values
    (%(archived_session_a)s, %(user_a)s, 'GRE', 'COMPLETED'),
    (%(archived_session_b)s, %(user_b)s, 'GRE', 'COMPLETED');
insert into archive.topics (id, session_id, name) values
    (%(archived_topic_a)s, %(archived_session_a)s, 'old'),
    (%(archived_topic_b)s, %(archived_session_b)s, 'old'),
    (%(archived_topic_of_live_a)s, %(session_a)s, 'old, of a live session');
insert into archive.misconceptions (id, user_id, topic_id, description) values
    (%(archived_misconception_a)s, %(user_a)s, %(archived_topic_a)s, 'old'),
    (%(archived_misconception_b)s, %(user_b)s, %(archived_topic_b)s, 'old');
insert into archive.tutor_chats (id, user_id, topic_id, messages, explanation) values
    (%(archived_chat_a)s, %(user_a)s::text, 'topic-a', '[]', ''),
    (%(archived_chat_b)s, %(user_b)s::text, 'topic-b', '[]', '');
insert into archive.quizzes (id, user_id, topic_id, questions) values
    (%(archived_quiz_a)s, %(user_a)s::text, 'topic-a', '[]'),
    (%(archived_quiz_b)s, %(user_b)s::text, 'topic-b', '[]')
"""


def seed(admin: Conn, fx: Fixture) -> None:
    params = {k: v for k, v in vars(fx).items()}
    with admin.transaction():
        for statement in SEED.split(";"):
            admin.execute(statement.encode(), params)


@dataclass(frozen=True)
class Subject:
    """One row of the matrix: a table and the row the statements aim at."""

    name: str
    table: str
    target: UUID
    owner: UUID  # the caller "owner"; for the shared plan cache, just some user
    other: UUID  # the caller "other"
    update_column: str  # UPDATE sets it to update_value
    new_row: dict[str, Any]  # INSERT: a row owned by the owner
    owner_column: str | None  # MOVE sets it to move_to; None: no owner column
    move_to: Any
    owner_may: frozenset[str]
    other_may: frozenset[str] = frozenset()
    ops: tuple[str, ...] = OPS
    update_value: Any = STAMP
    # INSERT names the id only where the API roles may write at all (the archives): on the
    # live tables the id is server-owned (0016), and the new row is found by its values
    chooses_id: bool = False
    # a unique column: UPDATE sets update_value plus a random suffix (one value for every row
    # would collide; reading the column would bring the SELECT policies in) and the target
    # counts as reached when its value starts with update_value
    unique: bool = False
    # references the owner may write, each with a value that points at the other user's row:
    # tried in INSERT (a new row of the owner's) and UPDATE (the owner's rows); only
    # service_role may write them
    foreign: tuple[tuple[str, Any], ...] = ()

    @property
    def all_ops(self) -> tuple[str, ...]:
        refs = tuple(f"{op} fk {column}" for column, _ in self.foreign for op in ("insert", "update"))
        return self.ops + refs


def subjects(fx: Fixture) -> list[Subject]:
    a, b = fx.user_a, fx.user_b
    own = frozenset({"select", "insert", "update", "delete"})
    read = frozenset({"select"})
    no_move = tuple(op for op in OPS if op != "move")

    def archive(table: str, target: UUID, row: dict[str, Any], column: str, move_to: Any) -> Subject:
        return Subject(
            f"archive.{table}", f"archive.{table}", target, a, b, "archived_at", row, column, move_to, read,
            chooses_id=True,
        )  # fmt: skip

    return [
        Subject(
            "public.users",
            "public.users",
            fx.user_c,
            fx.user_c,
            b,
            "name",
            {"name": "new-user"},
            None,
            None,
            frozenset({"select", "update"}),
            ops=no_move,
            update_value="carol 2",
            unique=True,
        ),
        Subject(
            "public.study_sessions",
            "public.study_sessions",
            fx.session_a,
            a,
            b,
            "exam_type",
            {"user_id": a, "exam_type": "SAT"},
            "user_id",
            b,
            own,
            update_value="GMAT",
            foreign=(("user_id", b),),
        ),
        Subject(
            "public.topics",
            "public.topics",
            fx.topic_a,
            a,
            b,
            "name",
            {"session_id": fx.session_a, "name": "geometry"},
            "session_id",
            fx.session_b,
            own,
            update_value="algebra 2",
            foreign=(("session_id", fx.session_b),),
        ),
        Subject(
            "public.misconceptions",
            "public.misconceptions",
            fx.misconception_a,
            a,
            b,
            "description",
            {"user_id": a, "topic_id": fx.topic_a, "description": "units"},
            "user_id",
            b,
            own,
            update_value="signs 2",
            foreign=(("user_id", b), ("topic_id", fx.topic_b)),
        ),
        Subject(
            "public.misconceptions (no topic)",
            "public.misconceptions",
            fx.misconception_a_no_topic,
            a,
            b,
            "description",
            {"user_id": a, "description": "no topic yet"},
            "user_id",
            b,
            own,
            update_value="no topic 2",
            foreign=(("topic_id", fx.topic_b),),
        ),
        Subject(
            "public.plan_cache",
            "public.plan_cache",
            fx.plan_fresh,
            a,
            b,
            "cache_key",
            {"cache_key": "new", "plan": "{}"},
            None,
            None,
            read,
            read,
            ops=no_move,
            update_value="fresh 2",
            unique=True,
        ),
        Subject(
            "public.plan_cache (no expiry)",
            "public.plan_cache",
            fx.plan_no_expiry,
            a,
            b,
            "created_at",
            {},
            None,
            None,
            read,
            read,
            ops=("select",),
        ),
        Subject(
            "public.plan_cache (expired entry)",
            "public.plan_cache",
            fx.plan_expired,
            a,
            b,
            "created_at",
            {},
            None,
            None,
            frozenset(),
            ops=("select",),
        ),
        Subject(
            "public.tutor_chats",
            "public.tutor_chats",
            fx.chat_a,
            a,
            b,
            "explanation",
            {"user_id": str(a), "topic_id": "topic-new", "explanation": ""},
            "user_id",
            str(b),
            own,
            update_value="why 2",
            foreign=(("user_id", str(b)),),
        ),
        Subject(
            "public.quizzes",
            "public.quizzes",
            fx.quiz_a,
            a,
            b,
            "topic_id",
            {"user_id": str(a), "topic_id": "topic-new", "questions": "[]"},
            "user_id",
            str(b),
            own,
            update_value="topic-z",
            foreign=(("user_id", str(b)),),
        ),
        archive(
            "study_sessions",
            fx.archived_session_a,
            {"user_id": a, "exam_type": "GRE", "current_state": "COMPLETED"},
            "user_id",
            b,
        ),
        archive(
            "topics",
            fx.archived_topic_a,
            {"session_id": fx.archived_session_a, "name": "n"},
            "session_id",
            fx.archived_session_b,
        ),
        Subject(
            # an archived topic whose session is not archived: its owner at archive time is
            # unknown to the archive, so nobody reads it (the policy reads archive tables only)
            "archive.topics (of a live session)",
            "archive.topics",
            fx.archived_topic_of_live_a,
            a,
            b,
            "archived_at",
            {},
            None,
            None,
            frozenset(),
            ops=("select",),
        ),
        archive(
            "misconceptions", fx.archived_misconception_a, {"user_id": a, "description": "d"}, "user_id", b
        ),
        archive(
            "tutor_chats",
            fx.archived_chat_a,
            {"user_id": str(a), "topic_id": "t", "messages": "[]", "explanation": ""},
            "user_id",
            str(b),
        ),
        archive(
            "quizzes",
            fx.archived_quiz_a,
            {"user_id": str(a), "topic_id": "t", "questions": "[]"},
            "user_id",
            str(b),
        ),
    ]


@dataclass(frozen=True)
class Cell:
    subject: Subject
    op: str
    caller: str

    @property
    def id(self) -> str:
        return f"{self.subject.name}-{self.op}-{self.caller}"

    @property
    def expected(self) -> bool:
        """True: the statement must reach the target row; False: it must not."""
        if self.caller == "service_role":
            return True
        if self.caller == "anon":
            return False
        allowed = self.subject.owner_may if self.caller == "owner" else self.subject.other_may
        return self.op in allowed

    def control(self) -> Cell:
        """The positive control of a deny: the same statement by a caller that may run it."""
        caller = "owner" if self.op in self.subject.owner_may else "service_role"
        return Cell(self.subject, self.op, caller)


def cells(fx: Fixture) -> list[Cell]:
    # a reference to the other user's row, written by that user, is that user's own row
    return [
        Cell(s, op, c)
        for s in subjects(fx)
        for op in s.all_ops
        for c in CALLERS
        if not (" fk " in op and c == "other")
    ]


def reference(cell: Cell) -> tuple[str, Any] | None:
    """For an `insert fk C` or `update fk C` cell: C and the other user's row it points at."""
    _, fk, column = cell.op.partition(" fk ")
    return next(ref for ref in cell.subject.foreign if ref[0] == column) if fk else None


def statement(cell: Cell, new_id: UUID) -> tuple[sql.Composed, dict[str, Any]]:
    s, table = cell.subject, qualified(cell.subject.table)
    if cell.op == "select":
        return sql.SQL("select id from {} where id = %(target)s").format(table), {"target": s.target}
    ref = reference(cell)
    if cell.op.startswith("insert"):
        row = {"id": new_id} if s.chooses_id else {}
        row.update({**s.new_row, **dict([ref] if ref else [])})
        return (
            sql.SQL("insert into {} ({}) values ({})").format(
                table,
                sql.SQL(", ").join(sql.Identifier(c) for c in row),
                sql.SQL(", ").join(sql.Placeholder(c) for c in row),
            ),
            row,
        )
    if cell.op == "update" and s.unique:
        query = sql.SQL("update {} set {} = %(value)s || gen_random_uuid()::text").format(
            table, sql.Identifier(s.update_column)
        )
        return query, {"value": s.update_value}
    if cell.op == "update":
        return sql.SQL("update {} set {} = %(value)s").format(table, sql.Identifier(s.update_column)), {
            "value": s.update_value
        }
    if cell.op == "move" or ref:
        column, value = ref or (s.owner_column, s.move_to)
        assert column is not None
        return sql.SQL("update {} set {} = %(value)s").format(table, sql.Identifier(column)), {"value": value}
    return sql.SQL("delete from {}").format(table), {}


def _reached(conn: Conn, cell: Cell, new_id: UUID, params: dict[str, Any]) -> bool:
    """Seen as service_role: did the statement reach the target row?"""
    s, table = cell.subject, qualified(cell.subject.table)
    conn.execute("set local role service_role")
    if cell.op.startswith("insert") and s.chooses_id:
        q = sql.SQL("select count(*) from {} where id = %s").format(table)
        row = conn.execute(q, (new_id,)).fetchone()
    elif cell.op.startswith("insert"):  # the new row by its values (no seeded row has them all)
        match = sql.SQL(" and ").join(
            sql.SQL("{}::text = {}::text").format(sql.Identifier(c), sql.Placeholder(c)) for c in params
        )
        q = sql.SQL("select count(*) from {} where {}").format(table, match)
        row = conn.execute(q, params).fetchone()
    elif cell.op.startswith(("update", "move")):
        ref = reference(cell)
        column = s.update_column if cell.op == "update" else ref[0] if ref else s.owner_column
        assert column is not None
        compare = "starts_with({}, %s)" if cell.op == "update" and s.unique else "{} = %s"
        q = sql.SQL("select count(*) from {} where id = %s and {}").format(
            table, sql.SQL(compare).format(sql.Identifier(column))
        )
        row = conn.execute(q, (s.target, params["value"])).fetchone()
    else:  # delete
        q = sql.SQL("select count(*) = 0 from {} where id = %s").format(table)
        row = conn.execute(q, (s.target,)).fetchone()
    return bool(row and row[0])


def caller_of(cell: Cell) -> tuple[UUID | None, str]:
    if cell.caller == "owner":
        return cell.subject.owner, "authenticated"
    if cell.caller == "other":
        return cell.subject.other, "authenticated"
    return None, cell.caller


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    detail: str


def run_cell(conn: Conn, cell: Cell) -> Outcome:
    """Run the cell's statement as its caller; roll back; say whether it reached the target."""
    new_id = uuid4()
    query, params = statement(cell, new_id)
    user_id, role = caller_of(cell)
    result: list[Outcome] = []
    with acting_as(conn, user_id, role):
        detail = "no error"
        seen = False
        try:
            with conn.transaction():
                cur = conn.execute(query, params)
                if cell.op == "select":
                    seen = cur.fetchone() is not None
        except pgerrors.InsufficientPrivilege as exc:
            detail = exc.diag.message_primary or "insufficient privilege"
        reached = seen if cell.op == "select" else _reached(conn, cell, new_id, params)
        result.append(Outcome(reached, detail))
        raise psycopg.Rollback()
    return result[0]


def killing_cell(conn: Conn, chosen: Iterable[Cell]) -> Cell | None:
    """The first cell whose outcome is not the expected one (None: all as expected)."""
    for cell in chosen:
        if run_cell(conn, cell).allowed != cell.expected:
            return cell
    return None


def ensure_tester(admin: Conn) -> str:
    """Create (once per server) the LOGIN role the RLS tests connect as; return its password."""
    admin.execute(
        sql.SQL(
            """
            do $$
            begin
                if not exists (select from pg_catalog.pg_roles where rolname = {name}) then
                    create role {role} login nosuperuser nobypassrls noinherit nocreaterole nocreatedb;
                end if;
            exception when duplicate_object then null;
            end
            $$
            """
        ).format(name=sql.Literal(TESTER), role=sql.Identifier(TESTER))
    )
    password = secrets.token_urlsafe(16)
    admin.execute(
        sql.SQL("alter role {} login nosuperuser nobypassrls noinherit password {}").format(
            sql.Identifier(TESTER), sql.Literal(password)
        )
    )
    admin.execute(sql.SQL("grant anon, authenticated, service_role to {}").format(sql.Identifier(TESTER)))
    return password


@dataclass(frozen=True)
class Mutant:
    table: str
    kind: str  # drop policy | using -> true | with check -> true | disable RLS
    policy: str | None
    statement: sql.Composable
    revert: sql.Composable  # restores exactly what the statement changed

    @property
    def label(self) -> str:
        return f"{self.table}: {self.kind}" + (f" {self.policy}" if self.policy else "")


def mutants(states: Iterable[Any]) -> list[Mutant]:
    """For each policy: drop it, and each of its predicates -> true; for each table: RLS off.

    A predicate that already is `true` has no mutant (changing it would change nothing).
    """
    found = []
    for state in states:
        table = qualified(state.table)
        for p in state.policies:
            name = sql.Identifier(p.name)
            drop = sql.SQL("drop policy {} on {}").format(name, table)
            found.append(Mutant(state.table, "drop policy", p.name, drop, create_statement(state.table, p)))
            if p.using not in (None, "true"):
                alter = sql.SQL("alter policy {} on {} using ({})")
                found.append(
                    Mutant(
                        state.table,
                        "using -> true",
                        p.name,
                        alter.format(name, table, sql.SQL("true")),
                        alter.format(name, table, sql.SQL(p.using)),
                    )
                )
            if p.check not in (None, "true"):
                alter = sql.SQL("alter policy {} on {} with check ({})")
                found.append(
                    Mutant(
                        state.table,
                        "with check -> true",
                        p.name,
                        alter.format(name, table, sql.SQL("true")),
                        alter.format(name, table, sql.SQL(p.check)),
                    )
                )
        found.append(
            Mutant(
                state.table,
                "disable RLS",
                None,
                sql.SQL("alter table {} disable row level security").format(table),
                sql.SQL("alter table {} enable row level security").format(table),
            )
        )
    return found
