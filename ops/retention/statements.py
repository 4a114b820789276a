"""The statements retention runs, composed with `psycopg.sql` from validated rule names.

Values (cutoffs, filters, keys, limits) are always parameters; names come only from a
rule that `rules.validate` checked against the catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from ops.retention.rules import Rule

Params = dict[str, Any]


def _cols(names: Sequence[str], alias: str | None = None) -> sql.Composable:
    if alias is None:
        return sql.SQL(", ").join(sql.Identifier(n) for n in names)
    return sql.SQL(", ").join(sql.Identifier(alias, n) for n in names)


def source(rule: Rule, table: str | None = None) -> sql.Composable:
    return sql.Identifier(rule.schema, table or rule.table)


def archive(rule: Rule, table: str | None = None) -> sql.Composable:
    return sql.Identifier(rule.archive_schema, table or rule.table)


def _filters(rule: Rule, params: Params) -> list[sql.Composable]:
    """The rule's conditions beyond its column's cutoff (alias t): `where` and `keep_latest_per`."""
    t = "t"
    parts: list[sql.Composable] = []
    for i, (column, value) in enumerate(rule.where):
        name = f"where_{i}"
        parts.append(sql.SQL("{} = {}").format(sql.Identifier(t, column), sql.Placeholder(name)))
        params[name] = value
    if rule.keep_latest_per:
        same_group = sql.SQL(" and ").join(
            sql.SQL("{} = {}").format(sql.Identifier("n", c), sql.Identifier(t, c))
            for c in rule.keep_latest_per
        )
        parts.append(
            sql.SQL("exists (select from {} as n where {} and ({}, {}) > ({}, {}))").format(
                source(rule), same_group,
                sql.Identifier("n", rule.column), sql.Identifier("n", rule.key),
                sql.Identifier(t, rule.column), sql.Identifier(t, rule.key),
            )
        )  # fmt: skip
    return parts


def walks_past_kept_rows(rule: Rule) -> bool:
    """Rows below the cutoff may stay (a `where` filter, the newest of a group kept): a batch
    then examines a bounded window of them, so that the rows that stay for good (an
    abandoned group's last quiz, every year) cannot make one batch walk them all."""
    return bool(rule.where or rule.keep_latest_per)


def eligible(rule: Rule, cutoff: Any) -> tuple[sql.Composed, Params]:
    """The WHERE clause (alias t) of rows the rule would move or delete now."""
    params: Params = {"cutoff": cutoff}
    parts: list[sql.Composable] = [sql.SQL("{} < %(cutoff)s").format(sql.Identifier("t", rule.column))]
    parts += _filters(rule, params)
    return sql.SQL(" and ").join(parts), params


def count_eligible(rule: Rule, cutoff: Any) -> tuple[sql.Composed, Params]:
    where, params = eligible(rule, cutoff)
    query = sql.SQL("select count(*), min({}) from {} as t where {}").format(
        sql.Identifier("t", rule.column), source(rule), where
    )
    return query, params


def _batch_ctes(
    rule: Rule, cutoff: Any, after: Any, limit: int, skip_locked: bool
) -> tuple[sql.Composed, Params]:
    """CTEs `examined` (the rows the batch looked at, in order) and `batch` (the ones it takes:
    physical address and order value).

    The delete finds the batch's rows with a TID scan instead of a join on the key, so a
    batch costs what its rows cost. With skip_locked the rows are locked first and rows the
    application holds are passed over; without, the batch saves the row-lock writes and
    a row the application holds makes it fail fast on lock_timeout (the caller then
    switches to skip_locked). A row changed since it was chosen has a new address and is
    left alone either way.

    A rule whose every row below the cutoff goes takes up to `limit` of them, from the
    order value `after` (inclusive: rows sharing a value are taken together). A rule that
    leaves some (`walks_past_kept_rows`) examines up to `limit` rows past the position
    `after` (order value, key) and takes the eligible ones among them.
    """
    col, key = sql.Identifier("t", rule.column), sql.Identifier("t", rule.key)
    params: Params = {"cutoff": cutoff, "limit": limit}
    lock = sql.SQL(" for update of t skip locked" if skip_locked else "")
    below = sql.SQL("{} < %(cutoff)s").format(col)
    where: sql.Composable = below
    if not walks_past_kept_rows(rule):
        if after is not None:
            where = sql.SQL("{} and {} >= %(after)s").format(below, col)
            params["after"] = after[0]
        examined = sql.SQL(
            "examined as (select t.ctid as tid, {col} as order_value, null as order_key from {table} as t"
            " where {where} order by {col} limit %(limit)s{lock}), batch as (select * from examined)"
        ).format(table=source(rule), where=where, col=col, lock=lock)
    else:
        if after is not None:
            where = sql.SQL("{} and ({}, {}) > (%(after_value)s, %(after_key)s)").format(below, col, key)
            params["after_value"], params["after_key"] = after
        chosen = sql.SQL(" and ").join(_filters(rule, params))
        taken: sql.Composable = sql.SQL("select tid, order_value from examined where chosen")
        if skip_locked:
            taken = sql.SQL(
                "select t.ctid as tid, {col} as order_value from {table} as t"
                " where t.ctid = any(array(select tid from examined where chosen)) and {chosen}{lock}"
            ).format(col=col, table=source(rule), chosen=chosen, lock=lock)
        examined = sql.SQL(
            "examined as (select t.ctid as tid, {col} as order_value, {key} as order_key, {chosen} as chosen"
            " from {table} as t where {where} order by {col}, {key} limit %(limit)s), batch as ({taken})"
        ).format(col=col, key=key, chosen=chosen, table=source(rule), where=where, taken=taken)
    return examined, params


def _batch_statement(
    rule: Rule,
    cutoff: Any,
    after: Any,
    limit: int,
    skip_locked: bool,
    *,
    returning: sql.Composable,
    then: sql.Composable,
    counted: str,
) -> tuple[sql.Composed, Params]:
    """One batch in one statement: choose the rows, delete them (`returning` into `gone`), run
    `then` (more CTEs after `gone`); (rows examined, rows of CTE `counted`, the position
    reached: order value and key). Pass the position back as `after` for the next batch."""
    ctes, params = _batch_ctes(rule, cutoff, after, limit, skip_locked)
    last = sql.SQL("from examined order by order_value desc, order_key desc limit 1")
    query = sql.SQL(
        "with {ctes}, gone as ("
        "delete from {table} as t where t.ctid = any(array(select tid from batch))"
        " returning {returning}){then} "
        "select (select count(*) from examined), (select count(*) from {counted}),"
        " (select order_value {last}), (select order_key {last})"
    ).format(
        ctes=ctes, table=source(rule), returning=returning, then=then, counted=sql.Identifier(counted),
        last=last,
    )  # fmt: skip
    return query, params


def delete_batch(
    rule: Rule, cutoff: Any, after: Any, limit: int, *, skip_locked: bool
) -> tuple[sql.Composed, Params]:
    """One batch of a ttl rule: (rows examined, rows deleted, the position reached)."""
    return _batch_statement(
        rule, cutoff, after, limit, skip_locked, returning=sql.SQL("1"), then=sql.SQL(""), counted="gone"
    )


def archive_batch(
    rule: Rule, cutoff: Any, after: Any, limit: int, *, skip_locked: bool
) -> tuple[sql.Composed, Params]:
    """One batch of an archive rule without children, moved by a single statement."""
    moved = sql.SQL(", moved as (insert into {archive} ({cols}) select {cols} from gone returning 1)").format(
        archive=archive(rule), cols=_cols(rule.columns)
    )
    return _batch_statement(
        rule,
        cutoff,
        after,
        limit,
        skip_locked,
        returning=_cols(rule.columns, "t"),
        then=moved,
        counted="moved",
    )


def lock_roots(
    table: sql.Composable, key: str, column: str, where: sql.Composable, limit: int
) -> sql.Composed:
    """The keys and order values of up to `limit` unlocked rows, locked for the transaction."""
    return sql.SQL(
        "select {key}, {col} from {table} as t where {where} order by {col} limit {limit} "
        "for update of t skip locked"
    ).format(
        key=sql.Identifier("t", key),
        col=sql.Identifier("t", column),
        table=table,
        where=where,
        limit=sql.Literal(limit),
    )


def child_rows(table: sql.Composable, key: str, column: str, *, lock: bool) -> sql.Composed:
    """(key, parent key) of the rows pointing at %(parents)s; with lock, only rows it could lock."""
    query = sql.SQL("select {key}, {col} from {table} as c where {col} = any(%(parents)s)").format(
        key=sql.Identifier("c", key), col=sql.Identifier("c", column), table=table
    )
    if lock:
        query = sql.SQL("{} for update of c skip locked").format(query)
    return query


def move_by_keys(
    steps: Sequence[tuple[sql.Composable, sql.Composable, str, Sequence[str]]],
) -> sql.Composed:
    """One statement moving rows by key between tables: (from, to, key, columns) per step.

    Each step is a delete ... returning feeding an insert; the result row holds each
    step's inserted count, in order. Foreign keys are checked at the end of the statement,
    so parents and children may move in either order.
    """
    ctes: list[sql.Composable] = []
    counts: list[sql.Composable] = []
    for i, (from_table, to_table, key, columns) in enumerate(steps):
        gone, moved = sql.Identifier(f"gone_{i}"), sql.Identifier(f"moved_{i}")
        ctes.append(
            sql.SQL(
                "{gone} as (delete from {src} as t where {key} = any({keys}) returning {tcols}), "
                "{moved} as (insert into {dst} ({cols}) select {cols} from {gone} returning 1)"
            ).format(
                gone=gone,
                moved=moved,
                src=from_table,
                dst=to_table,
                key=sql.Identifier("t", key),
                keys=sql.Placeholder(f"keys_{i}"),
                tcols=_cols(columns, "t"),
                cols=_cols(columns),
            )
        )
        counts.append(sql.SQL("(select count(*) from {})").format(moved))
    return sql.SQL("with {} select {}").format(sql.SQL(", ").join(ctes), sql.SQL(", ").join(counts))
