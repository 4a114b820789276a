"""Moving rows as units: a root row and its child rows, together, in one short transaction.

Used by archive rules with children (a study session with its topics and misconceptions)
and by every restore. The batch first locks its root rows (SKIP LOCKED), then the child
rows of each level; a unit with a child row the application holds is left for the next
run. Locked parents also keep new children from appearing (their foreign-key checks wait),
so the ON DELETE CASCADE of the sources never deletes a row the move did not copy.

A unit that cannot move (its id is already at the destination, a constraint refuses it)
does not stop the batch: the batch's one statement runs in a savepoint, and when it hits
an integrity error the units are moved one by one, each in its own savepoint, and the
ones that fail are returned as skipped (table, key, reason) for the run to report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import errors as pg_errors
from psycopg import sql

from ops.db import Conn
from ops.retention import statements as q
from ops.retention.rules import Rule


@dataclass(frozen=True)
class Level:
    name: str
    src: sql.Composable
    dst: sql.Composable
    key: str
    columns: tuple[str, ...]
    parent: str | None = None  # None: the root level
    parent_column: str | None = None


@dataclass(frozen=True)
class UnitPlan:
    levels: tuple[Level, ...]  # root first, each child after its parent
    order_column: str
    where: sql.Composable  # on the root, alias t
    params: dict[str, Any]
    restore: bool = False


def archive_plan(rule: Rule, cutoff: Any) -> UnitPlan:
    where, params = q.eligible(rule, cutoff)
    return UnitPlan(_levels(rule, restore=False), rule.column, where, params)


def restore_plan(rule: Rule, since: Any) -> UnitPlan:
    where = sql.SQL("{} >= %(since)s").format(sql.Identifier("t", "archived_at"))
    return UnitPlan(_levels(rule, restore=True), "archived_at", where, {"since": since}, restore=True)


def _levels(rule: Rule, *, restore: bool) -> tuple[Level, ...]:
    def level(table: str, key: str, columns: tuple[str, ...], **kw: Any) -> Level:
        src, dst = q.source(rule, table), q.archive(rule, table)
        if restore:
            src, dst = dst, src
        return Level(table, src, dst, key, columns, **kw)

    levels = [level(rule.table, rule.key, rule.columns)]
    for child, columns in zip(rule.children, rule.child_columns, strict=True):
        levels.append(level(child.table, child.key, columns, parent=child.parent, parent_column=child.column))
    return tuple(levels)


def unit_key_queries(plan: UnitPlan) -> dict[str, sql.Composed]:
    """Per table of the plan, the query of the keys of its rows that moving every unit now would take."""
    root = plan.levels[0]
    keys: dict[str, sql.Composed] = {
        root.name: sql.SQL("select {} from {} as t where {}").format(
            sql.Identifier("t", root.key), root.src, plan.where
        )
    }
    for lvl in plan.levels:
        if lvl.parent is not None and lvl.parent_column is not None:
            keys[lvl.name] = sql.SQL("select {} from {} as c where {} in ({})").format(
                sql.Identifier("c", lvl.key),
                lvl.src,
                sql.Identifier("c", lvl.parent_column),
                keys[lvl.parent],
            )
    return keys


def count_units(conn: Conn, plan: UnitPlan) -> dict[str, int]:
    """Rows per table that moving every unit now would touch; locks nothing (for --dry-run)."""
    keys = unit_key_queries(plan)
    counts: dict[str, int] = {}
    for lvl in plan.levels:
        row = conn.execute(
            sql.SQL("select count(*) from ({}) as k").format(keys[lvl.name]), plan.params
        ).fetchone()
        counts[lvl.name] = int(row[0]) if row else 0
    return counts


@dataclass(frozen=True)
class Skipped:
    """A unit that could not move: its root table and key, and why (the server's message)."""

    table: str
    key: str
    reason: str


@dataclass(frozen=True)
class UnitBatch:
    selected: int  # root rows locked by the batch (units left behind included)
    moved: dict[str, int]  # rows per table
    last_order_value: Any
    skipped: tuple[Skipped, ...] = ()


def move_units(
    conn: Conn,
    plan: UnitPlan,
    limit: int,
    after: Any,
    exclude: Sequence[Any] = (),
    *,
    skip_failed: bool = True,
) -> UnitBatch:
    """Lock up to `limit` units past `after` (not in `exclude`) and move them; the caller
    holds the transaction. With `skip_failed` a unit that cannot move is skipped, else
    its integrity error ends the batch."""
    root = plan.levels[0]
    where, params = plan.where, dict(plan.params)
    if after is not None:
        where = sql.SQL("{} and {} >= %(after)s").format(where, sql.Identifier("t", plan.order_column))
        params["after"] = after
    if exclude:
        where = sql.SQL("{} and not {} = any(%(exclude)s)").format(where, sql.Identifier("t", root.key))
        params["exclude"] = list(exclude)
    roots = conn.execute(q.lock_roots(root.src, root.key, plan.order_column, where, limit), params).fetchall()
    if not roots:
        return UnitBatch(0, {lvl.name: 0 for lvl in plan.levels}, None)
    root_of: dict[str, dict[Any, Any]] = {root.name: {key: key for key, _ in roots}}
    left_behind: set[Any] = set()
    for lvl in plan.levels[1:]:
        assert lvl.parent is not None and lvl.parent_column is not None
        parents = list(root_of[lvl.parent])
        mapping: dict[Any, Any] = {}
        if parents:
            args = {"parents": parents}
            locked = {
                k for k, _ in conn.execute(q.child_rows(lvl.src, lvl.key, lvl.parent_column, lock=True), args)
            }
            for key, parent in conn.execute(
                q.child_rows(lvl.src, lvl.key, lvl.parent_column, lock=False), args
            ):
                mapping[key] = root_of[lvl.parent][parent]
                if key not in locked:
                    left_behind.add(mapping[key])
        root_of[lvl.name] = mapping
    ordered: Sequence[Level] = plan.levels if plan.restore else tuple(reversed(plan.levels))
    statement = q.move_by_keys([(lvl.src, lvl.dst, lvl.key, lvl.columns) for lvl in ordered])
    last = max(value for _, value in roots)
    units = [key for key, _ in roots if key not in left_behind]

    def keys_of(chosen: set[Any]) -> dict[str, list[Any]]:
        return {
            f"keys_{i}": [k for k, r in root_of[lvl.name].items() if r in chosen]
            for i, lvl in enumerate(ordered)
        }

    def move(chosen: set[Any]) -> dict[str, int]:
        with conn.transaction():  # a savepoint: a failed move leaves the batch's locks
            row = conn.execute(statement, keys_of(chosen)).fetchone()
        assert row is not None
        return {lvl.name: int(n) for lvl, n in zip(ordered, row, strict=True)}

    try:
        return UnitBatch(len(roots), move(set(units)), last)
    except pg_errors.IntegrityError:
        if not skip_failed:
            raise
    moved = {lvl.name: 0 for lvl in plan.levels}
    skipped = []
    for key in units:
        try:
            for table, n in move({key}).items():
                moved[table] += n
        except pg_errors.IntegrityError as exc:
            reason = exc.diag.message_primary or type(exc).__name__
            skipped.append(Skipped(root.name, str(key), reason))
    return UnitBatch(len(roots), moved, last, tuple(skipped))


def conflicts(conn: Conn, plan: UnitPlan, limit: int = 100) -> list[tuple[str, str]]:
    """(table, key) of rows the plan would move whose key the destination already holds."""
    keys = unit_key_queries(plan)
    found: list[tuple[str, str]] = []
    for lvl in plan.levels:
        query = sql.SQL(
            "select k.{key}::text from ({keys}) as k"
            " where exists (select from {dst} as d where d.{key} = k.{key}) order by 1 limit {limit}"
        ).format(key=sql.Identifier(lvl.key), keys=keys[lvl.name], dst=lvl.dst, limit=sql.Literal(limit))
        found += [(lvl.name, row[0]) for row in conn.execute(query, plan.params)]
    return found[:limit]
