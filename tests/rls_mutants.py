"""Mutants of the live RLS policies, for the mutation run of tests/test_rls_matrix.py.

Whole-policy operators (drop a policy, a predicate -> true, RLS off) live in rls_matrix.py.
Here are the partial ones, made on PostgreSQL's own parse tree of each USING and WITH CHECK
expression (pglast, the server's parser): drop one conjunct or disjunct of an AND/OR,
turn an `=` into `<>`, and replace a compared column with another column of the same type
from the same table. Each mutant is an ALTER POLICY with the deparsed mutated expression,
and its revert puts the catalog's own text back.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from pglast import ast, parse_sql
from pglast.enums.parsenodes import A_Expr_Kind
from pglast.enums.primnodes import BoolExprType
from pglast.stream import RawStream
from psycopg import sql

OPERATORS = ("drop conjunct", "drop disjunct", "= -> <>", "column -> same-type column")
COMPARISONS = frozenset({"=", "<>", "<", ">", "<=", ">="})

Path = tuple[tuple[str, int | None], ...]  # attribute names (and tuple indexes) from the root


@dataclass(frozen=True)
class ExprMutant:
    table: str
    policy: str
    clause: str  # using | with check
    operator: str
    change: str  # what changed, in SQL
    statement: sql.Composable
    revert: sql.Composable

    @property
    def label(self) -> str:
        return f"{self.table} {self.policy} {self.clause}: {self.operator}: {self.change}"


def _sql(node: Any) -> str:
    return str(RawStream()(node))


def _children(node: ast.Node) -> Iterator[tuple[str, int | None, ast.Node]]:
    for attr in node:  # a pglast node iterates over its attribute names
        value = getattr(node, attr)
        if isinstance(value, ast.Node):
            yield attr, None, value
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                if isinstance(item, ast.Node):
                    yield attr, i, item


def _walk(node: ast.Node, path: Path = ()) -> Iterator[tuple[Path, ast.Node]]:
    yield path, node
    for attr, index, child in _children(node):
        yield from _walk(child, (*path, (attr, index)))


def _replaced(root: ast.Node, path: Path, make: Callable[[Any], Any]) -> ast.Node:
    """A copy of `root` with the node at `path` replaced by make(that node's copy)."""
    if not path:
        return make(copy.deepcopy(root))  # type: ignore[no-any-return]
    top = copy.deepcopy(root)
    parent: Any = top
    for attr, index in path[:-1]:
        parent = getattr(parent, attr) if index is None else getattr(parent, attr)[index]
    attr, index = path[-1]
    if index is None:
        setattr(parent, attr, make(getattr(parent, attr)))
    else:
        items = list(getattr(parent, attr))
        items[index] = make(items[index])
        setattr(parent, attr, tuple(items))
    return top


def _parse(expression: str) -> ast.Node:
    stmt = parse_sql(f"select {expression}")[0].stmt  # the catalog's own deparsed text
    return stmt.targetList[0].val  # type: ignore[no-any-return]


def _aliases(root: ast.Node, table: str) -> dict[str, str]:
    """Names a column may be qualified with -> schema.table: the policy's table, FROM items."""
    found = {table.partition(".")[2]: table}
    for _, node in _walk(root):
        if isinstance(node, ast.RangeVar):
            name = f"{node.schemaname or 'public'}.{node.relname}"
            found[node.alias.aliasname if node.alias else node.relname] = name
    return found


def _column_of(ref: ast.ColumnRef, aliases: dict[str, str], table: str) -> tuple[str, str] | None:
    names = [f.sval for f in ref.fields if isinstance(f, ast.String)]
    if len(names) == 1:
        return table, names[0]
    if len(names) == 2 and names[0] in aliases:
        return aliases[names[0]], names[1]
    return None


def _drops(root: ast.Node) -> Iterator[tuple[str, str, ast.Node]]:
    for path, node in _walk(root):
        if not isinstance(node, ast.BoolExpr) or node.boolop == BoolExprType.NOT_EXPR:
            continue
        operator = "drop conjunct" if node.boolop == BoolExprType.AND_EXPR else "drop disjunct"
        for i, arg in enumerate(node.args):

            def without(n: Any, i: int = i) -> Any:
                rest = n.args[:i] + n.args[i + 1 :]
                if len(rest) == 1:
                    return rest[0]
                n.args = rest
                return n

            yield operator, _sql(arg), _replaced(root, path, without)


def _comparisons(root: ast.Node) -> Iterator[tuple[Path, ast.A_Expr, str]]:
    for path, node in _walk(root):
        if isinstance(node, ast.A_Expr) and node.kind == A_Expr_Kind.AEXPR_OP and len(node.name) == 1:
            op = node.name[0].sval
            if op in COMPARISONS:
                yield path, node, op


def _negations(root: ast.Node) -> Iterator[tuple[str, str, ast.Node]]:
    for path, node, op in _comparisons(root):
        if op == "=":

            def negate(n: Any) -> Any:
                n.name = (ast.String(sval="<>"),)
                return n

            yield "= -> <>", _sql(node), _replaced(root, path, negate)


def _column_swaps(
    root: ast.Node, table: str, types: Callable[[str], dict[str, str]]
) -> Iterator[tuple[str, str, ast.Node]]:
    aliases = _aliases(root, table)
    for path, node, _ in _comparisons(root):
        for side in ("lexpr", "rexpr"):
            ref = getattr(node, side)
            if not isinstance(ref, ast.ColumnRef):
                continue
            found = _column_of(ref, aliases, table)
            if found is None:
                continue
            of_table, column = found
            columns = types(of_table)
            for other in sorted(c for c, t in columns.items() if t == columns.get(column) and c != column):

                def swap(n: Any, side: str = side, other: str = other) -> Any:
                    ref = getattr(n, side)
                    ref.fields = (*ref.fields[:-1], ast.String(sval=other))
                    return n

                yield (
                    "column -> same-type column",
                    f"{_sql(node)}: {column} -> {other}",
                    _replaced(root, (*path,), swap),
                )


def column_types(conn: psycopg.Connection[Any]) -> Callable[[str], dict[str, str]]:
    cache: dict[str, dict[str, str]] = {}

    def types(table: str) -> dict[str, str]:
        if table not in cache:
            rows = conn.execute(
                "select attname, format_type(atttypid, atttypmod) from pg_attribute"
                " where attrelid = %s::regclass and attnum > 0 and not attisdropped",
                (table,),
            ).fetchall()
            cache[table] = dict(rows)
        return cache[table]

    return types


def expression_mutants(states: Iterable[Any], types: Callable[[str], dict[str, str]]) -> list[ExprMutant]:
    """Every partial mutant of every USING and WITH CHECK expression of the live policies."""
    found: list[ExprMutant] = []
    for state in states:
        schema, _, name = state.table.partition(".")
        table = sql.SQL(".").join([sql.Identifier(schema), sql.Identifier(name)])
        for p in state.policies:
            for clause, text in (("using", p.using), ("with check", p.check)):
                if text in (None, "true"):
                    continue
                root = _parse(text)
                alter = sql.SQL("alter policy {} on {} " + clause + " ({})")
                revert = alter.format(sql.Identifier(p.name), table, sql.SQL(text))
                made = [*_drops(root), *_negations(root), *_column_swaps(root, state.table, types)]
                seen: Counter[tuple[str, str]] = Counter()
                for operator, change, mutated in made:
                    seen[operator, change] += 1  # the same text twice, in two branches
                    if seen[operator, change] > 1:
                        change = f"{change} (#{seen[operator, change]})"
                    statement = alter.format(sql.Identifier(p.name), table, sql.SQL(_sql(mutated)))
                    found.append(ExprMutant(state.table, p.name, clause, operator, change, statement, revert))
    return found
