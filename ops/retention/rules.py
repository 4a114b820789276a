"""Retention rules: shipped defaults, `[tool.dbops.retention.<name>]` overrides, catalog checks.

A rule is either `ttl` (delete rows whose `column` is in the past) or `archive` (move rows
whose `column` is older than `older_than` to `archive.<table>`, optionally with child
tables as one unit per root row). Every table and column a rule names is looked up in the
catalog before anything runs, so a typo or an injection attempt is a configuration error
(exit 2), and the names reach SQL only through `psycopg.sql.Identifier`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from ops import sqlfiles
from ops.db import Conn
from ops.errors import ConfigError
from ops.vocabulary import duration_ms, duration_s, parse_duration

KINDS = ("ttl", "archive")
RESERVED_NAMES = frozenset({"restore", "run"})

# Shipped defaults; `[tool.dbops.retention.<name>]` overrides them key by key.
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "plan_cache": {"kind": "ttl", "table": "plan_cache", "column": "expires_at"},
    "quizzes": {
        "kind": "archive",
        "table": "quizzes",
        "column": "created_at",
        "older_than": "90 days",
        "keep_latest_per": ["user_id", "topic_id"],
    },
    "tutor_chats": {
        "kind": "archive",
        "table": "tutor_chats",
        "column": "last_updated",
        "older_than": "180 days",
    },
    "sessions": {
        "kind": "archive",
        "table": "study_sessions",
        "column": "created_at",
        "older_than": "365 days",
        "where": {"current_state": "COMPLETED"},
        "children": [
            {"table": "topics", "column": "session_id"},
            {"table": "misconceptions", "column": "topic_id", "parent": "topics"},
        ],
    },
}
DEFAULT_BATCH_TIME = "100ms"
DEFAULT_LOCK_TIMEOUT = "50ms"
DEFAULT_STATEMENT_TIMEOUT = "10s"
_RULE_KEYS = frozenset(
    {"kind", "table", "column", "older_than", "where", "keep_latest_per", "children", "key",
     "schema", "archive_schema", "enabled"}
)  # fmt: skip
_RUN_KEYS = frozenset({"batch_time", "batch_pause", "lock_timeout", "statement_timeout", "max_runtime"})


@dataclass(frozen=True)
class Child:
    """Rows of `table` whose `column` points at `parent`'s key move with their parent."""

    table: str
    column: str
    parent: str
    key: str = "id"


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    table: str
    column: str
    schema: str = "public"
    key: str = "id"
    older_than: timedelta | None = None
    where: tuple[tuple[str, Any], ...] = ()
    keep_latest_per: tuple[str, ...] = ()
    children: tuple[Child, ...] = ()
    archive_schema: str = "archive"
    columns: tuple[str, ...] = ()  # filled in by validate(): the source's columns, in order
    child_columns: tuple[tuple[str, ...], ...] = ()

    @property
    def verb(self) -> str:
        return "evict" if self.kind == "ttl" else "archive"


@dataclass(frozen=True)
class RunSettings:
    batch_time_ms: int
    lock_timeout_ms: int
    statement_timeout_ms: int
    max_runtime_s: float | None
    batch_pause_ms: int = 0


def _retention_table(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    table = tool.get("retention", {})
    if not isinstance(table, Mapping):
        raise ConfigError("[tool.dbops.retention] must be a table", "see README, Retention")
    return table


def run_settings(tool: Mapping[str, Any], max_runtime: float | None = None) -> RunSettings:
    """The batch budget and timeouts: `[tool.dbops.retention]` keys, a --max-runtime flag first."""
    table = _retention_table(tool)
    configured = table.get("max_runtime")
    if max_runtime is None and configured is not None:
        max_runtime = duration_s(configured, "retention.max_runtime")
    if max_runtime is not None and max_runtime <= 0:
        raise ConfigError(f"max runtime must be positive, got {max_runtime}", "pass --max-runtime 300")
    budget = duration_ms(table.get("batch_time", DEFAULT_BATCH_TIME), "retention.batch_time")
    if budget <= 0:
        raise ConfigError("retention.batch_time must be positive", "write it like 100ms")
    return RunSettings(
        batch_time_ms=budget,
        lock_timeout_ms=duration_ms(
            table.get("lock_timeout", DEFAULT_LOCK_TIMEOUT), "retention.lock_timeout"
        ),
        statement_timeout_ms=duration_ms(
            table.get("statement_timeout", DEFAULT_STATEMENT_TIMEOUT), "retention.statement_timeout"
        ),
        max_runtime_s=max_runtime,
        batch_pause_ms=duration_ms(table.get("batch_pause", "0ms"), "retention.batch_pause"),
    )


def configured_rules(tool: Mapping[str, Any]) -> dict[str, Rule]:
    """The shipped rules merged key by key with `[tool.dbops.retention.<name>]`; disabled ones dropped."""
    table = _retention_table(tool)
    merged: dict[str, dict[str, Any]] = {name: dict(spec) for name, spec in DEFAULT_RULES.items()}
    for name, spec in table.items():
        if name in _RUN_KEYS:
            continue
        if not isinstance(spec, Mapping):
            raise ConfigError(
                f"retention.{name}: expected a table of rule keys or one of {', '.join(sorted(_RUN_KEYS))}",
                f"write it as [tool.dbops.retention.{name}]",
            )
        merged.setdefault(name, {}).update(spec)
    rules = {}
    for name, spec in merged.items():
        if spec.get("enabled", True) is False:
            continue
        rules[name] = _parse_rule(name, spec)
    return rules


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(
            f"{where}: expected a list of column names", 'write it like ["user_id", "topic_id"]'
        )
    return tuple(str(v) for v in value)


def _parse_rule(name: str, spec: Mapping[str, Any]) -> Rule:
    where = f"retention.{name}"
    if name in RESERVED_NAMES:
        raise ConfigError(f"{where}: {name!r} is a reserved word", "rename the rule")
    unknown = sorted(set(spec) - _RULE_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}", f"use {', '.join(sorted(_RULE_KEYS))}"
        )
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ConfigError(
            f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}", 'set kind = "ttl"'
        )
    for required in ("table", "column"):
        if not isinstance(spec.get(required), str) or not spec[required]:
            raise ConfigError(
                f"{where}: missing {required}", f'set {required} = "..." in [tool.dbops.{where}]'
            )
    older_than = None
    if kind == "archive":
        if "older_than" not in spec:
            raise ConfigError(f"{where}: an archive rule needs older_than", 'set older_than = "90 days"')
        older_than = parse_duration(spec["older_than"], f"{where}.older_than")
    filters = spec.get("where", {})
    if not isinstance(filters, Mapping) or any(not isinstance(v, str | int | bool) for v in filters.values()):
        raise ConfigError(f"{where}.where: expected column = value pairs", 'write it like {state = "DONE"}')
    table = str(spec["table"])
    children = []
    for i, child in enumerate(spec.get("children", [])):
        if not isinstance(child, Mapping) or not {"table", "column"} <= set(child):
            raise ConfigError(
                f"{where}.children[{i}]: needs table and column", '{table = "t", column = "fk"}'
            )
        children.append(
            Child(str(child["table"]), str(child["column"]), str(child.get("parent", table)),
                  str(child.get("key", "id")))
        )  # fmt: skip
    if children and kind == "ttl":
        raise ConfigError(f"{where}: children belong to archive rules", 'use kind = "archive"')
    return Rule(
        name=name,
        kind=str(kind),
        table=table,
        column=str(spec["column"]),
        schema=str(spec.get("schema", "public")),
        key=str(spec.get("key", "id")),
        older_than=older_than,
        where=tuple((str(k), v) for k, v in filters.items()),
        keep_latest_per=_names(spec.get("keep_latest_per", []), f"{where}.keep_latest_per"),
        children=tuple(children),
        archive_schema=str(spec.get("archive_schema", "archive")),
    )


def select_rules(rules: Mapping[str, Rule], name: str | None, kind: str | None = None) -> list[Rule]:
    """One named rule or all of them (of one kind when given)."""
    if name is not None:
        if name not in rules:
            raise ConfigError(
                f"no retention rule named {name!r}",
                f"use one of {', '.join(sorted(rules)) or '(none)'} or add [tool.dbops.retention.{name}]",
            )
        rule = rules[name]
        if kind is not None and rule.kind != kind:
            other = "dbops evict" if rule.kind == "ttl" else "dbops archive"
            article = "an" if rule.kind == "archive" else "a"
            raise ConfigError(f"rule {name!r} is {article} {rule.kind} rule", f"run it with `{other} {name}`")
        return [rule]
    return [r for r in rules.values() if kind is None or r.kind == kind]


def _columns_of(conn: Conn, schema: str, table: str) -> tuple[str, ...]:
    columns = sqlfiles.query(__name__, "retention_columns")
    rows = conn.execute(columns, {"schema": schema, "table": table}).fetchall()
    return tuple(r[0] for r in rows)


def validate(conn: Conn, rule: Rule) -> Rule:
    """The rule with its tables' columns, after checking every name against the catalog."""
    where = f"retention.{rule.name}"
    hint = f"fix [tool.dbops.{where}] in pyproject.toml, or migrate the database (`dbops migrate`)"

    def table_columns(schema: str, table: str) -> tuple[str, ...]:
        cols = _columns_of(conn, schema, table)
        if not cols:
            raise ConfigError(f"{where}: no table {table!r} in schema {schema!r}", hint)
        return cols

    def need(cols: tuple[str, ...], names: tuple[str, ...], schema: str, table: str) -> None:
        for col in names:
            if col not in cols:
                raise ConfigError(f"{where}: table {schema}.{table} has no column {col!r}", hint)

    columns = table_columns(rule.schema, rule.table)
    need(columns, (rule.key, rule.column, *rule.keep_latest_per, *(k for k, _ in rule.where)),
         rule.schema, rule.table)  # fmt: skip
    child_columns = []
    known = {rule.table: columns}
    for child in rule.children:
        cols = table_columns(rule.schema, child.table)
        need(cols, (child.column, child.key), rule.schema, child.table)
        if child.parent not in known:
            raise ConfigError(
                f"{where}: child {child.table} names parent {child.parent!r} not listed before it", hint
            )
        known[child.table] = cols
        child_columns.append(cols)
    if rule.kind == "archive":
        for table, cols in known.items():
            archived = table_columns(rule.archive_schema, table)
            need(archived, (*cols, "archived_at"), rule.archive_schema, table)
    return replace(rule, columns=columns, child_columns=tuple(child_columns))
