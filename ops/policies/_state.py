"""The live row-level-security state of tables, and how two states differ.

Expressions are deparsed by the server (`pg_get_expr`) with `search_path` set to
pg_catalog only, so every name comes out schema-qualified and a state read by one session
compares equal to the same state read by another, whatever their search paths.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from psycopg import sql

from ops import sqlfiles
from ops.db import Conn

_COMMANDS = {"r": "select", "a": "insert", "w": "update", "d": "delete", "*": "all"}


Command = Literal["select", "insert", "update", "delete", "all"]


@dataclass(frozen=True)
class PolicyDef:
    name: str
    command: Command
    permissive: bool
    roles: tuple[str, ...]
    using: str | None
    check: str | None

    def describe(self) -> str:
        text = f"for {self.command} to {', '.join(self.roles)}"
        if not self.permissive:
            text = "as restrictive " + text
        if self.using is not None:
            text += f" using {_oneline(self.using)}"
        if self.check is not None:
            text += f" with check {_oneline(self.check)}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "permissive": self.permissive,
            "roles": list(self.roles),
            "using": self.using,
            "check": self.check,
        }


@dataclass(frozen=True)
class TableState:
    table: str  # schema.table
    exists: bool
    rls_enabled: bool
    rls_forced: bool
    policies: tuple[PolicyDef, ...]

    def policy(self, name: str) -> PolicyDef | None:
        return next((p for p in self.policies if p.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "rls_enabled": self.rls_enabled,
            "rls_forced": self.rls_forced,
            "policies": {p.name: p.to_json() for p in self.policies},
        }

    @classmethod
    def from_json(cls, table: str, data: Mapping[str, Any]) -> TableState:
        policies = tuple(
            PolicyDef(
                name,
                cast(Command, str(p["command"])),  # written by to_json from a PolicyDef
                bool(p["permissive"]),
                tuple(p["roles"]),
                p.get("using"),
                p.get("check"),
            )
            for name, p in sorted(data.get("policies", {}).items())
        )
        return cls(table, True, bool(data["rls_enabled"]), bool(data["rls_forced"]), policies)


@dataclass(frozen=True)
class PolicyDifference:
    table: str
    # table-missing | rls-off | rls-force | policy-missing | policy-extra | policy-changed
    # | not-applied (diff(evaluate=False): the file is new or changed since its last apply)
    kind: str
    policy: str | None
    expected: str | None  # what policies/ says (None: nothing)
    found: str | None  # what the database has (None: nothing)

    def describe(self) -> str:
        name = f'"{self.policy}"' if self.policy else ""
        if self.kind == "table-missing":
            return f"{self.table}: table does not exist (run `dbops migrate`)"
        if self.kind == "not-applied":
            return (
                f"{self.table}: {self.expected}; the live policies are not known to be the file's "
                "(`dbops policies diff` compares them, `dbops policies apply` applies it)"
            )
        if self.kind == "rls-off":
            return f"{self.table}: row level security is disabled"
        if self.kind == "rls-force":
            return f"{self.table}: FORCE ROW LEVEL SECURITY is {self.found}, the file says {self.expected}"
        if self.kind == "policy-missing":
            return f"{self.table}: policy {name} is missing (file: {self.expected})"
        if self.kind == "policy-extra":
            return f"{self.table}: policy {name} is not in the file (live: {self.found})"
        return f"{self.table}: policy {name} differs\n    file: {self.expected}\n    live: {self.found}"


def read_states(conn: Conn, tables: Iterable[str]) -> dict[str, TableState]:
    """The live state of each table (`exists=False` for a missing one)."""
    names = list(tables)
    if not names:
        return {}
    with conn.transaction():
        saved = conn.execute("select current_setting('search_path')").fetchone()
        conn.execute("select set_config('search_path', 'pg_catalog', true)")
        rows = conn.execute(sqlfiles.query(__name__, "policy_state"), {"tables": names}).fetchall()
        conn.execute("select set_config('search_path', %s, true)", (saved[0] if saved else "",))
    flags: dict[str, tuple[bool, bool, bool]] = {}
    policies: dict[str, list[PolicyDef]] = {name: [] for name in names}
    for table, exists, enabled, forced, pname, command, permissive, roles, using, check in rows:
        flags[table] = (exists, enabled, forced)
        if pname is not None:
            policies[table].append(
                PolicyDef(pname, _COMMANDS.get(command, command), permissive, tuple(roles), using, check)
            )
    return {
        name: TableState(name, *flags.get(name, (False, False, False)), tuple(policies[name]))
        for name in names
    }


def compare(expected: TableState, live: TableState) -> list[PolicyDifference]:
    """What differs between the state policies/ gives and the live one."""
    table = expected.table
    if not live.exists:
        return [PolicyDifference(table, "table-missing", None, "exists", None)]
    found: list[PolicyDifference] = []
    if expected.rls_enabled and not live.rls_enabled:
        found.append(PolicyDifference(table, "rls-off", None, "enabled", "disabled"))
    if expected.rls_forced != live.rls_forced:
        found.append(
            PolicyDifference(table, "rls-force", None, _onoff(expected.rls_forced), _onoff(live.rls_forced))
        )
    names = sorted({p.name for p in expected.policies} | {p.name for p in live.policies})
    for name in names:
        want, have = expected.policy(name), live.policy(name)
        if have is None:
            assert want is not None
            found.append(PolicyDifference(table, "policy-missing", name, want.describe(), None))
        elif want is None:
            found.append(PolicyDifference(table, "policy-extra", name, None, have.describe()))
        elif want != have:
            found.append(PolicyDifference(table, "policy-changed", name, want.describe(), have.describe()))
    return found


def _oneline(expression: str) -> str:
    return " ".join(expression.split())


def _onoff(value: bool) -> str:
    return "on" if value else "off"


def create_statement(table: str, p: PolicyDef) -> sql.Composed:
    """CREATE POLICY from a definition read by `read_states` (the server's own deparsed,
    schema-qualified text, so it means the same under any search_path)."""
    parts: list[sql.Composable] = [
        sql.SQL("create policy {} on {} as {} for {} to {}").format(
            sql.Identifier(p.name),
            qualified(table),
            sql.SQL("permissive" if p.permissive else "restrictive"),
            sql.SQL(p.command),
            sql.SQL(", ").join(sql.SQL("public") if r == "public" else sql.Identifier(r) for r in p.roles),
        )
    ]
    if p.using is not None:
        parts.append(sql.SQL("using ({})").format(sql.SQL(p.using)))
    if p.check is not None:
        parts.append(sql.SQL("with check ({})").format(sql.SQL(p.check)))
    return sql.SQL(" ").join(parts)


def qualified(table: str) -> sql.Composed:
    """`schema.table` as a quoted identifier pair."""
    schema, _, name = table.partition(".")
    return sql.SQL(".").join([sql.Identifier(schema), sql.Identifier(name)])


# -- bookkeeping: dbops.policy_apply --------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """A row of dbops.policy_apply: the file applied, the state after it, the state before
    the table's first apply."""

    file_name: str
    sha256: str
    state: TableState
    baseline: TableState | None


def read_recorded(conn: Conn) -> dict[str, Recorded]:
    row = conn.execute(sqlfiles.query(__name__, "policy_bookkeeping_exists")).fetchone()
    if not row or not row[0]:
        return {}
    return {
        table: Recorded(
            file_name,
            sha,
            TableState.from_json(table, state),
            None if baseline is None else TableState.from_json(table, baseline),
        )
        for table, file_name, sha, state, baseline in conn.execute(
            sqlfiles.query(__name__, "policy_recorded")
        ).fetchall()
    }


def record(
    conn: Conn,
    table: str,
    file_name: str,
    sha256: str,
    state: TableState,
    baseline: TableState,
) -> None:
    conn.execute(
        sqlfiles.query(__name__, "policy_record"),
        {
            "table_name": table,
            "file_name": file_name,
            "sha256": sha256,
            "state": json.dumps(state.to_json(), sort_keys=True),
            "baseline": json.dumps(baseline.to_json(), sort_keys=True),
        },
    )
