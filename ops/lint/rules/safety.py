"""Migration-safety rules: which lock a statement takes, how long, and the safe way instead.

squawk knows most of the catalogue (strong_migrations' unsafe operations, PostgreSQL's
lock-level table); these rules cover what it misses or gets wrong for dbops' files:

- statements that cannot run in a transaction, in a transactional file (squawk only sees
  `CREATE INDEX CONCURRENTLY` there when a second statement follows; the migration then
  fails at run time);
- transaction control in a transactional file (dbops already runs it in one transaction);
- the table-locking maintenance commands (VACUUM FULL, CLUSTER, LOCK TABLE, TRUNCATE,
  REFRESH MATERIALIZED VIEW, table rewrites such as SET TABLESPACE / SET LOGGED);
- json columns, exclusion constraints on a live table;
- a backfill (UPDATE / DELETE) in the same transaction as DDL on its table.

Each rule carries the lock it is about and the safe recipe, and its message names both.
squawk's findings get the same two facts appended (`SQUAWK_LOCKS`), and one squawk false
positive is dropped: widening a varchar (or varchar to text) changes no row on disk.

The rules read statements through `ops.lint.statements` (the words of a statement), kept apart
from tokenizing so that they can move to another parser.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ops.lint.model import Finding, LintFile, RuleInfo
from ops.lint.statements import (
    SqlText,
    Statement,
    Token,
    index_of,
    name_after,
    parenthesized,
    parse_sql,
    qualified_name,
    table_key,
)
from ops.sarif import Level


@dataclass(frozen=True)
class SafetyRule:
    level: Level
    lock: str  # the lock the operation takes (or why the lock is not the problem)
    recipe: str  # the safe way to get the same result
    help: str

    def message(self, what: str) -> str:
        return f"{what}; lock: {self.lock}; safe: {self.recipe}"


_NON_TRANSACTIONAL = "move it to a `-- transactional: false` migration (`dbops new NAME --non-transactional`)"

RULES: dict[str, SafetyRule] = {
    "concurrently-in-transaction": SafetyRule(
        "error",
        "none: PostgreSQL refuses it inside a transaction block, so the migration fails at run time",
        _NON_TRANSACTIONAL + ", one statement each, written re-runnable",
        "CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY, DETACH PARTITION CONCURRENTLY and "
        "VACUUM cannot run in a transaction; a transactional migration runs in one.",
    ),
    "transaction-control": SafetyRule(
        "error",
        "none: dbops runs the file in one transaction, so BEGIN/COMMIT/ROLLBACK/SAVEPOINT break its "
        "all-or-nothing guarantee",
        "remove it; split the work into separate migrations, or use a `-- transactional: false` migration "
        "with a DO block that COMMITs per batch",
        "A transactional migration holds no transaction control: dbops wraps it in one transaction.",
    ),
    "vacuum-full": SafetyRule(
        "error",
        "ACCESS EXCLUSIVE on the table for the whole rewrite (reads and writes wait)",
        "plain VACUUM (SHARE UPDATE EXCLUSIVE, blocks no reads or writes), or an online repack "
        "(pg_repack / pg_squeeze) run outside migrations",
        "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock.",
    ),
    "cluster": SafetyRule(
        "error",
        "ACCESS EXCLUSIVE on the table for the whole rewrite (reads and writes wait)",
        "an online repack ordered by the index (pg_repack --order-by) run outside migrations",
        "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock.",
    ),
    "lock-table": SafetyRule(
        "error",
        "the mode it names (ACCESS EXCLUSIVE when none), held until the migration commits",
        "drop the LOCK: each statement takes the lock it needs, bounded by dbops' lock_timeout",
        "An explicit LOCK TABLE holds its lock for the rest of the migration's transaction.",
    ),
    "truncate": SafetyRule(
        "error",
        "ACCESS EXCLUSIVE on the table (reads and writes wait), and the rows are gone at commit",
        "delete in batches from a `-- transactional: false` migration (a DO block committing per batch), "
        "or a retention rule (`dbops evict`)",
        "TRUNCATE takes an ACCESS EXCLUSIVE lock and cannot be undone by a rollback migration.",
    ),
    "refresh-materialized-view": SafetyRule(
        "warning",
        "ACCESS EXCLUSIVE on the materialized view while it is recomputed (reads wait)",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY (EXCLUSIVE: reads go on; needs a unique index on the view)",
        "A plain REFRESH blocks every reader of the view until it finishes.",
    ),
    "table-rewrite": SafetyRule(
        "error",
        "ACCESS EXCLUSIVE on the table while every row is rewritten (reads and writes wait)",
        "build a new table and copy in batches, or an online repack run outside migrations",
        "SET TABLESPACE, SET LOGGED/UNLOGGED and SET ACCESS METHOD rewrite the table under an ACCESS "
        "EXCLUSIVE lock.",
    ),
    "json-column": SafetyRule(
        "warning",
        "none (not a locking problem): json has no equality operator, so DISTINCT, UNION and GROUP BY "
        "fail on it, and it is re-parsed on every read",
        "jsonb",
        "A new json column should be jsonb.",
    ),
    "exclusion-constraint": SafetyRule(
        "error",
        "ACCESS EXCLUSIVE on the table while its index is built and every row checked; there is no "
        "NOT VALID form",
        "add it when the table is created (empty), or build a new table with the constraint and move "
        "the rows in batches",
        "ADD CONSTRAINT ... EXCLUDE on a live table blocks it for the whole build.",
    ),
    "backfill-in-ddl-transaction": SafetyRule(
        "error",
        "the earlier DDL's lock on the table (ACCESS EXCLUSIVE for ALTER TABLE) is held until the "
        "backfill commits, so every read and write of the table waits for the whole UPDATE/DELETE",
        "commit the DDL in its own migration, backfill in batches in a following `-- transactional: "
        "false` migration (a DO block committing per batch), then VALIDATE / SET NOT NULL in a third",
        "A backfill in the same transaction as DDL on its table holds the DDL's lock for its length.",
    ),
}

# squawk's rules in the catalogue: the lock and the safe recipe appended to its message.
SQUAWK_LOCKS: dict[str, tuple[str, str]] = {
    "ban-drop-column": (
        "ACCESS EXCLUSIVE (brief); clients still reading the column break",
        "stop reading and writing it in the application and deploy that first, then drop it",
    ),
    "changing-column-type": (
        "ACCESS EXCLUSIVE while the table is rewritten",
        "add a new column, backfill it in batches, switch the application, drop the old one",
    ),
    "renaming-column": (
        "ACCESS EXCLUSIVE (brief); clients using the old name break",
        "add the new column and keep both in step until every client uses it, then drop the old one",
    ),
    "renaming-table": (
        "ACCESS EXCLUSIVE (brief); clients using the old name break",
        "create the new name as a view of the old table (or the reverse) until every client moved",
    ),
    "adding-field-with-default": (
        "ACCESS EXCLUSIVE while the table is rewritten (volatile default, identity or stored generated "
        "column)",
        "add the column nullable without the default, backfill in batches, then SET DEFAULT",
    ),
    "adding-required-field": (
        "ACCESS EXCLUSIVE; existing rows have no value, so the ALTER fails on a non-empty table",
        "add it nullable (or with a constant default), backfill, then SET NOT NULL",
    ),
    "adding-not-nullable-field": (
        "ACCESS EXCLUSIVE while every row is scanned",
        "ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later migration, "
        "then SET NOT NULL (which uses the check and skips the scan)",
    ),
    "constraint-missing-not-valid": (
        "SHARE ROW EXCLUSIVE or ACCESS EXCLUSIVE while every row is checked",
        "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later migration "
        "(SHARE UPDATE EXCLUSIVE: reads and writes go on)",
    ),
    "adding-foreign-key-constraint": (
        "SHARE ROW EXCLUSIVE on both tables while the rows are checked",
        "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT in a later migration",
    ),
    "disallowed-unique-constraint": (
        "ACCESS EXCLUSIVE while the unique index is built",
        "CREATE UNIQUE INDEX CONCURRENTLY in a `-- transactional: false` migration, then "
        "ADD CONSTRAINT ... UNIQUE USING INDEX",
    ),
    "adding-serial-primary-key-field": (
        "ACCESS EXCLUSIVE while the primary key's index is built",
        "CREATE UNIQUE INDEX CONCURRENTLY in a `-- transactional: false` migration, then "
        "ADD CONSTRAINT ... PRIMARY KEY USING INDEX",
    ),
    "require-concurrent-index-creation": (
        "SHARE on the table while the index is built (writes wait)",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS in a `-- transactional: false` migration",
    ),
    "require-concurrent-index-deletion": (
        "ACCESS EXCLUSIVE on the table",
        "DROP INDEX CONCURRENTLY IF EXISTS in a `-- transactional: false` migration",
    ),
    "require-concurrent-reindex": (
        "SHARE on the table, ACCESS EXCLUSIVE on the index, for the whole rebuild",
        "REINDEX ... CONCURRENTLY in a `-- transactional: false` migration",
    ),
    "require-concurrent-partition-detach": (
        "ACCESS EXCLUSIVE on the parent table",
        "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY in a `-- transactional: false` migration",
    ),
    "ban-concurrent-index-creation-in-transaction": (
        RULES["concurrently-in-transaction"].lock,
        RULES["concurrently-in-transaction"].recipe,
    ),
    "transaction-nesting": (RULES["transaction-control"].lock, RULES["transaction-control"].recipe),
    "prefer-text-field": (
        "ACCESS EXCLUSIVE for a later change of the length (narrowing rewrites the table)",
        "text with a CHECK (length(col) <= N) constraint, added NOT VALID and validated",
    ),
}

_NEEDS_NO_TRANSACTION = re.compile(
    r"^(create (unique )?index concurrently|drop index concurrently|reindex .*concurrently|vacuum"
    r"|alter system|create database|drop database|create tablespace|drop tablespace)\b"
)
_TRANSACTION_CONTROL = {"begin", "commit", "rollback", "end", "abort", "savepoint", "release", "start"}
_REWRITES = (
    ("set", "tablespace"),
    ("set", "logged"),
    ("set", "unlogged"),
    ("set", "access"),
)


def safety_rule_infos() -> dict[str, RuleInfo]:
    return {rid: RuleInfo(rid, "dbops", r.message(r.help.rstrip("."))) for rid, r in RULES.items()}


def finding(lint_file: LintFile, st: Statement, rule: str, what: str) -> Finding:
    r = RULES[rule]
    return Finding(lint_file.display, st.line, 1, rule, r.level, r.message(what), "dbops")


def safety_findings(lint_file: LintFile, parsed: SqlText) -> list[Finding]:
    """The safety rules for one migration or rollback file."""
    findings: list[Finding] = []
    altered: dict[str, Statement] = {}  # table -> the DDL that locked it, in this transaction
    for st in parsed.statements:
        words = st.words(16)
        head = " ".join(words)
        findings.extend(_statement_findings(lint_file, st, words, head))
        if not lint_file.transactional:
            continue
        table = _ddl_table(st, words)
        if table:
            altered.setdefault(table, st)
        backfilled = _dml_table(st, words)
        if backfilled and backfilled in altered:
            ddl = altered[backfilled]
            findings.append(
                finding(
                    lint_file,
                    st,
                    "backfill-in-ddl-transaction",
                    f"{st.head(3)} ... backfills {backfilled}, which `{ddl.head(3)} ...` (line {ddl.line}) "
                    "changed in the same transaction",
                )
            )
    return findings


def _statement_findings(lint_file: LintFile, st: Statement, words: list[str], head: str) -> list[Finding]:
    out: list[Finding] = []
    if lint_file.transactional:
        if _NEEDS_NO_TRANSACTION.match(head) or _detaches_concurrently(st):
            out.append(
                finding(
                    lint_file,
                    st,
                    "concurrently-in-transaction",
                    f"{st.head(4)} ... cannot run in a transaction",
                )
            )
        if (
            words[:1]
            and words[0] in _TRANSACTION_CONTROL
            and not (words[0] == "start" and words[1:2] != ["transaction"])
        ):
            out.append(
                finding(lint_file, st, "transaction-control", f"{st.head(2)} in a transactional migration")
            )
    if words[:1] == ["vacuum"] and ("full" in words[1:3] or _option(st, "full")):
        out.append(finding(lint_file, st, "vacuum-full", "VACUUM FULL rewrites the table"))
    if words[:1] == ["cluster"]:
        out.append(finding(lint_file, st, "cluster", "CLUSTER rewrites the table"))
    if words[:1] == ["lock"]:
        out.append(finding(lint_file, st, "lock-table", f"{st.head(3)} ... locks explicitly"))
    if words[:1] == ["truncate"]:
        out.append(finding(lint_file, st, "truncate", f"{st.head(3)} ... empties the table"))
    if words[:3] == ["refresh", "materialized", "view"] and "concurrently" not in words[3:5]:
        out.append(
            finding(lint_file, st, "refresh-materialized-view", f"{st.head(4)} ... blocks its readers")
        )
    if words[:2] == ["alter", "table"]:
        out.extend(_alter_table_findings(lint_file, st, words))
    if words[:2] == ["create", "table"] and _adds_json(st.tokens):
        out.append(finding(lint_file, st, "json-column", f"{st.head(3)} ... has a json column"))
    return out


def _alter_table_findings(lint_file: LintFile, st: Statement, words: list[str]) -> list[Finding]:
    out: list[Finding] = []
    pairs = set(itertools.pairwise(st.words()))
    rewrite = next((p for p in _REWRITES if p in pairs), None)
    if rewrite:
        out.append(finding(lint_file, st, "table-rewrite", f"{st.head(3)} ... {' '.join(rewrite).upper()}"))
    if "add" in words and _adds_json(st.tokens):
        out.append(finding(lint_file, st, "json-column", f"{st.head(3)} ... adds a json column"))
    if "add" in words and "exclude" in st.words():
        out.append(
            finding(lint_file, st, "exclusion-constraint", f"{st.head(3)} ... adds an exclusion constraint")
        )
    return out


def _option(st: Statement, name: str) -> bool:
    """`VACUUM (FULL, ANALYZE) t`: an option in the parenthesised list after the verb."""
    inside, _ = parenthesized(st.tokens, 1)
    return any(t.text == name for t in inside)


def _adds_json(tokens: Sequence[Token]) -> bool:
    """A column declared `json` (not jsonb): the word json right after a column name or TYPE,
    not a cast (`::json`)."""
    for i, t in enumerate(tokens):
        if t.kind == "word" and t.text == "json" and i:
            prev = tokens[i - 1]
            if prev.text != "::" and prev.kind in ("word", "quoted"):
                return True
    return False


def _ddl_table(st: Statement, words: list[str]) -> str | None:
    """The table an ALTER TABLE / CREATE INDEX / CREATE TRIGGER locks, or None."""
    toks = st.tokens
    if words[:2] == ["alter", "table"]:
        name, _ = name_after(toks, 2)
        return table_key(name) if name else None
    if words[:1] == ["create"] and ("index" in words[1:3] or "trigger" in words[1:4]):
        on = index_of(toks, "on")
        if on >= 0:
            i = on + 1
            if i < len(toks) and toks[i].text == "only":
                i += 1
            name, _ = qualified_name(toks, i)
            return table_key(name) if name else None
    return None


def _dml_table(st: Statement, words: list[str]) -> str | None:
    toks = st.tokens
    if words[:1] == ["update"]:
        i = 2 if len(toks) > 1 and toks[1].text == "only" else 1
    elif words[:2] == ["delete", "from"]:
        i = 3 if len(toks) > 2 and toks[2].text == "only" else 2
    else:
        return None
    name, _ = qualified_name(toks, i)
    return table_key(name) if name else None


# -- squawk: the lock and recipe appended; widening a varchar is not a rewrite ---------------------

_VARCHAR = re.compile(r"^(?:varchar|character varying)(?:\((\d+)\))?$")


def enrich_squawk(findings: Iterable[Finding]) -> list[Finding]:
    out = []
    for f in findings:
        extra = SQUAWK_LOCKS.get(f.rule)
        out.append(replace(f, message=f"{f.message}; lock: {extra[0]}; safe: {extra[1]}") if extra else f)
    return out


def drop_squawk_false_positives(
    findings: Iterable[Finding], files: Sequence[LintFile], parsed: Mapping[str, SqlText]
) -> list[Finding]:
    """squawk's false positives: changing-column-type on a varchar widened (or turned into
    text / unbounded varchar), where PostgreSQL changes only the catalog and rewrites no row
    (the column's current type is read from the earlier migrations of the same directory;
    when it is not known, the finding stays); prefer-robust-stmts on DETACH PARTITION ...
    CONCURRENTLY, the statement squawk itself recommends, which has no IF EXISTS form."""
    by_display = {f.display: f for f in files}
    out = []
    for f in findings:
        lint_file = by_display.get(f.path)
        text = parsed.get(f.path)
        st = next((s for s in text.statements if s.line <= f.line <= s.end_line), None) if text else None
        if lint_file is not None and st is not None:
            if f.rule == "changing-column-type" and _widens_varchar(
                st, _column_types_before(lint_file.path, st)
            ):
                continue
            if f.rule == "prefer-robust-stmts" and _detaches_concurrently(st):
                continue  # squawk's own fix for a detach, and it has no IF EXISTS form
        out.append(f)
    return out


def _detaches_concurrently(st: Statement) -> bool:
    words = st.words()
    return words[:2] == ["alter", "table"] and "detach" in words and words[-1:] == ["concurrently"]


def _widens_varchar(st: Statement, known: Mapping[str, Mapping[str, str]]) -> bool:
    """Every ALTER COLUMN ... TYPE of the statement widens a varchar, with no USING."""
    words = st.words(4)
    if words[:2] != ["alter", "table"]:
        return False
    name, _ = qualified_name(st.tokens, 2)
    cols = known.get(table_key(name), {}) if name else {}
    changes = 0
    for item in _split_commas(st.tokens):
        texts = [t.text for t in item]
        if "type" not in texts or "column" not in texts:
            continue
        if "using" in texts:
            return False
        old = _VARCHAR.match(cols.get(item[texts.index("column") + 1].name, ""))
        new_type = _type_text(item[texts.index("type") + 1 :])
        new = _VARCHAR.match(new_type)
        if old is None or not (new_type == "text" or new is not None):
            return False
        if new is not None and new.group(1) and (not old.group(1) or int(new.group(1)) < int(old.group(1))):
            return False
        changes += 1
    return changes > 0


def _type_text(toks: Sequence[Token]) -> str:
    """`character varying(20) not null` -> 'character varying(20)'."""
    parts: list[str] = []
    for i, t in enumerate(toks):
        if t.kind == "word" and t.text in _COLUMN_CLAUSES:
            break
        if t.text == "(" and i:
            inside, _ = parenthesized(tuple(toks), i)
            parts[-1] += "(" + ",".join(x.text for x in inside if x.text != ",") + ")"
            break
        parts.append(t.text)
    return " ".join(parts)


_COLUMN_CLAUSES = {
    "not",
    "null",
    "default",
    "primary",
    "unique",
    "references",
    "check",
    "constraint",
    "collate",
    "generated",
    "using",
    "set",
    "drop",
}


def _column_types_before(path: Path, upto: Statement) -> dict[str, dict[str, str]]:
    """table -> column -> declared type, from the migrations before `path` and the statements
    of `path` before `upto`."""
    types: dict[str, dict[str, str]] = {}
    earlier = sorted(
        p for p in path.parent.glob("*.sql") if not p.name.endswith(".rollback.sql") and p.name < path.name
    )
    for p in [*earlier, path]:
        for st in parse_sql(p.read_text(encoding="utf-8")).statements:
            if p == path and st.line >= upto.line:
                break
            _record_types(st, types)
    return types


_NOT_COLUMNS = {"constraint", "primary", "unique", "check", "foreign", "exclude", "like"}


def _record_types(st: Statement, types: dict[str, dict[str, str]]) -> None:
    words = st.words(4)
    toks = st.tokens
    if words[:2] == ["create", "table"]:
        name, after = name_after(toks, 2)
        body, _ = parenthesized(toks, after)
        if name:
            cols = types.setdefault(table_key(name), {})
            for item in _split_commas(body):
                if item and item[0].kind in ("word", "quoted") and item[0].text not in _NOT_COLUMNS:
                    cols[item[0].name] = _type_text(item[1:])
    elif words[:2] == ["alter", "table"]:
        i = 2
        while i < len(toks) and toks[i].text in ("if", "exists", "only"):
            i += 1
        name, _ = qualified_name(toks, i)
        if name:
            _record_alter(toks, types.setdefault(table_key(name), {}))


def _record_alter(toks: tuple[Token, ...], cols: dict[str, str]) -> None:
    for item in _split_commas(toks):
        texts = [t.text for t in item]
        if "column" in texts and "type" in texts:
            cols[item[texts.index("column") + 1].name] = _type_text(item[texts.index("type") + 1 :])
        elif "add" in texts and "constraint" not in texts:
            at = texts.index("add") + 1
            while at < len(item) and item[at].text in ("column", "if", "not", "exists"):
                at += 1
            if at < len(item):
                cols[item[at].name] = _type_text(item[at + 1 :])


def _split_commas(toks: Sequence[Token]) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    depth = 0
    for t in toks:
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            depth -= 1
        if t.text == "," and depth == 0:
            parts.append([])
        else:
            parts[-1].append(t)
    return parts
