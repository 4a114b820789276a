"""dbops' own lint rules: what sqlfluff and squawk do not know about this project's files.

- migrations/: ids unique and numbered without gaps, a rollback for each, `-- depends:`
  naming existing, earlier migrations; a non-transactional file holds only statements that
  need to run outside a transaction, each re-runnable;
- policies/: a file enables RLS on its one table, touches nothing else, and gives anon or
  authenticated no always-true write policy;
- checks/: one read-only SELECT with the required header lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ops.lint_model import Finding, LintFile, RuleInfo
from ops.lint_sql import (
    SqlText,
    Statement,
    always_true,
    index_of,
    parenthesized,
    parse_sql,
    qualified_name,
    table_key,
)
from ops.sqlfiles import parse_headers

# id -> (level, help). The help is what SARIF shows next to a result.
RULES: dict[str, tuple[str, str]] = {
    "migration-filename": ("error", "Migration files are named NNNN_name.sql and NNNN_name.rollback.sql."),
    "migration-duplicate-id": ("error", "Each migration number is used by one migration only."),
    "migration-gap": ("error", "Migration numbers run from 0001 without gaps."),
    "migration-no-rollback": (
        "error",
        "Every migration has a NNNN_name.rollback.sql that undoes it exactly.",
    ),
    "rollback-orphan": ("error", "A rollback file belongs to a migration of the same name."),
    "migration-unknown-depends": ("error", "`-- depends:` names migrations that exist."),
    "migration-depends-order": ("error", "`-- depends:` names earlier migrations only."),
    "migration-no-depends": ("warning", "Every migration after the first says which one it follows."),
    "non-transactional-statement": (
        "error",
        "A `-- transactional: false` file holds only statements that cannot run in a transaction "
        "(CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY, ALTER TYPE ... ADD VALUE, VACUUM, "
        "DO/CALL with COMMIT); anything else belongs in a transactional migration.",
    ),
    "non-transactional-not-rerunnable": (
        "error",
        "A non-transactional statement can fail half-way: write it re-runnable (IF NOT EXISTS / IF EXISTS).",
    ),
    "policy-no-rls": ("error", "A policy file enables row-level security on its table."),
    "policy-other-table": (
        "error",
        "A policy file touches only its own table: its RLS switch, its policies, grants and comments.",
    ),
    "policy-always-true-write": (
        "error",
        "No permissive INSERT/UPDATE/DELETE/ALL policy for anon or authenticated (or PUBLIC) whose "
        "USING or WITH CHECK is always true, and no INSERT policy without WITH CHECK.",
    ),
    "check-header": (
        "error",
        "A check file starts with `-- id:`, `-- severity: error|warn|info`, `-- category:`, "
        "`-- description:` and `-- remediation:` lines.",
    ),
    "check-duplicate-id": ("error", "Each check id is used by one check file only."),
    "check-single-select": ("error", "A check file is exactly one SELECT statement (WITH ... SELECT too)."),
    "check-read-only": (
        "error",
        "A check only reads: no data-changing statement or CTE, no SELECT INTO, no FOR UPDATE/SHARE, "
        "no function with side effects (nextval, set_config, advisory locks, ...).",
    ),
    "waiver-no-reason": ("error", "`-- dbops: ignore RULE reason` needs a reason; a bare waiver is ignored."),
    "waiver-unused": ("warning", "A waiver that waives nothing is stale: remove it."),
}

_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+(\.rollback)?\.sql$")
_CHECK_HEADERS = ("id", "severity", "category", "description", "remediation")
_CHECK_SEVERITIES = ("error", "warn", "info")
_WRITE_KEYWORDS = {
    "insert",
    "update",
    "delete",
    "merge",
    "truncate",
    "create",
    "alter",
    "drop",
    "grant",
    "revoke",
    "copy",
    "vacuum",
    "cluster",
    "reindex",
    "refresh",
    "call",
    "notify",
}
_SIDE_EFFECT_FUNCTIONS = {
    "nextval",
    "setval",
    "set_config",
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_advisory_xact_lock",
    "pg_advisory_xact_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
    "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared",
    "pg_advisory_unlock",
    "pg_advisory_unlock_all",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_switch_wal",
    "pg_create_restore_point",
    "lo_import",
    "lo_export",
    "lo_unlink",
    "lo_create",
    "dblink_exec",
    "txid_current",
    "pg_current_xact_id",
    "pg_notify",
    "pg_stat_reset",
    "pg_stat_reset_single_table_counters",
}
_WRITE_ROLES = {"public", "anon", "authenticated"}


def rule_infos() -> dict[str, RuleInfo]:
    return {rid: RuleInfo(rid, "dbops", help_text) for rid, (_, help_text) in RULES.items()}


def _finding(path: str, line: int, rule: str, message: str, column: int = 1) -> Finding:
    return Finding(path, line, column, rule, RULES[rule][0], message, "dbops")


# --- migrations -------------------------------------------------------------------------------


def migration_dir_findings(directory: Path, display: dict[Path, str]) -> list[Finding]:
    """Rules over a whole migrations directory; `display` names its files as reported."""
    findings: list[Finding] = []
    forward: dict[str, Path] = {}
    rollbacks: dict[str, Path] = {}
    for path in sorted(directory.glob("*.sql")):
        shown = display.get(path, path.name)
        match = _MIGRATION.match(path.name)
        if not match:
            findings.append(
                _finding(
                    shown,
                    1,
                    "migration-filename",
                    f"{path.name} is not NNNN_name.sql or "
                    "NNNN_name.rollback.sql: dbops and yoyo will not order it",
                )
            )
            continue
        stem = path.name.removesuffix(".sql").removesuffix(".rollback")
        (rollbacks if match.group(2) else forward)[stem] = path

    by_number: dict[int, list[str]] = {}
    for mid in forward:
        by_number.setdefault(int(mid[:4]), []).append(mid)
    for number, mids in sorted(by_number.items()):
        for mid in sorted(mids)[1:]:
            findings.append(
                _finding(
                    display.get(forward[mid], mid),
                    1,
                    "migration-duplicate-id",
                    f"{mid} reuses number {number:04d} of {sorted(mids)[0]}: renumber it",
                )
            )
    expected = 1
    for number in sorted(by_number):
        if number != expected:
            first = sorted(by_number[number])[0]
            missing = f"{expected:04d}" if number == expected + 1 else f"{expected:04d}-{number - 1:04d}"
            findings.append(
                _finding(
                    display.get(forward[first], first),
                    1,
                    "migration-gap",
                    f"{first} follows a gap: {missing} missing; renumber it {expected:04d}",
                )
            )
        expected = number + 1

    for mid, path in sorted(forward.items()):
        shown = display.get(path, path.name)
        if mid not in rollbacks:
            findings.append(_finding(shown, 1, "migration-no-rollback", f"{mid} has no {mid}.rollback.sql"))
        findings.extend(_depends_findings(mid, path, shown, forward))
    for mid, path in sorted(rollbacks.items()):
        if mid not in forward:
            findings.append(
                _finding(
                    display.get(path, path.name),
                    1,
                    "rollback-orphan",
                    f"{path.name} has no migration {mid}.sql",
                )
            )
    return findings


def _depends_findings(mid: str, path: Path, shown: str, forward: dict[str, Path]) -> list[Finding]:
    text = path.read_text(encoding="utf-8")
    depends = parse_headers(text).get("depends", "").split()
    line = next((n for n, t in enumerate(text.splitlines(), 1) if re.match(r"--\s*depends\s*:", t)), 1)
    findings: list[Finding] = []
    if not depends and int(mid[:4]) > min(int(m[:4]) for m in forward):
        findings.append(
            _finding(
                shown,
                1,
                "migration-no-depends",
                f"{mid} has no `-- depends:` line: name the migration it follows",
            )
        )
    for dep in depends:
        if dep not in forward:
            findings.append(
                _finding(shown, line, "migration-unknown-depends", f"depends on {dep}, which does not exist")
            )
        elif dep[:4] >= mid[:4]:
            findings.append(
                _finding(
                    shown,
                    line,
                    "migration-depends-order",
                    f"depends on {dep}, which is not earlier than {mid}",
                )
            )
    return findings


def _outside_transaction(st: Statement) -> tuple[bool, bool]:
    """(needs to run outside a transaction, is re-runnable) for a statement."""
    words = st.words(12)
    head = " ".join(words)
    if words[:1] in (["set"], ["reset"]):
        return True, True  # session settings for what follows: harmless on a rerun
    if re.match(r"create (unique )?index concurrently", head):
        return True, "if not exists" in head
    if head.startswith("drop index concurrently"):
        return True, head.startswith("drop index concurrently if exists")
    if head.startswith("reindex") and "concurrently" in words:
        return True, True
    if words[:1] == ["vacuum"]:
        return True, True
    if words[:2] == ["alter", "type"] and "add" in words and "value" in words:
        return True, "if not exists" in head
    if words[:1] in (["do"], ["call"]):
        body = " ".join(t.text.lower() for t in st.tokens if t.kind == "literal")
        commits = words[:1] == ["call"] or re.search(r"\b(commit|rollback)\b", body) is not None
        return commits, True  # a batched DO block's re-runnability is its author's to prove
    if words[:2] == ["alter", "table"] and "detach" in st.words() and "concurrently" in st.words():
        return True, False
    return False, True


def non_transactional_findings(lint_file: LintFile, parsed: SqlText) -> list[Finding]:
    findings: list[Finding] = []
    for st in parsed.statements:
        outside, rerunnable = _outside_transaction(st)
        head = st.head(4)
        if not outside:
            findings.append(
                _finding(
                    lint_file.display,
                    st.line,
                    "non-transactional-statement",
                    f"{head} ... can run in a transaction: move it to a transactional migration "
                    "so a failure rolls it back",
                )
            )
        elif not rerunnable:
            findings.append(
                _finding(
                    lint_file.display,
                    st.line,
                    "non-transactional-not-rerunnable",
                    f"{head} ... is not re-runnable: add IF NOT EXISTS / IF EXISTS",
                )
            )
    return findings


# --- policies ---------------------------------------------------------------------------------


def _statement_target(st: Statement) -> tuple[str | None, str]:
    """The table a policy-file statement acts on (None when it is about no table), and what it does."""
    w = st.words(8)
    toks = st.tokens
    if w[:2] == ["alter", "table"]:
        i = 2
        while i < len(toks) and toks[i].text in ("if", "exists", "only"):
            i += 1
        name, after = qualified_name(toks, i)
        rest = " ".join(t.text for t in toks[after:])
        for action in ("enable", "disable", "force", "no force"):
            if rest.startswith(action + " row level security"):
                return name, action.replace(" ", "-") + "-rls"
        return name, "alter-table"
    if w[:2] in (["create", "policy"], ["drop", "policy"], ["alter", "policy"]) or w[:3] == [
        "comment",
        "on",
        "policy",
    ]:
        on = index_of(toks, "on", 3 if w[0] == "comment" else 2)
        name, _ = qualified_name(toks, on + 1) if on >= 0 else (None, 0)
        return name, f"{w[0]}-policy"
    if w[:3] == ["comment", "on", "table"]:
        return qualified_name(toks, 3)[0], "comment"
    if w[:1] in (["grant"], ["revoke"]):
        on = index_of(toks, "on")
        if on >= 0:
            i = on + 1 + (toks[on + 1].text == "table")
            if toks[i].text not in ("function", "schema", "sequence", "all", "procedure", "routine"):
                return qualified_name(toks, i)[0], w[0]
    return None, " ".join(w[:3])


def policy_findings(lint_file: LintFile, parsed: SqlText) -> list[Finding]:
    shown = lint_file.display
    findings: list[Finding] = []
    targets = [(st, *_statement_target(st)) for st in parsed.statements]
    enabled = [name for _, name, action in targets if action == "enable-rls" and name]
    own = table_key(enabled[0]) if enabled else next((table_key(n) for _, n, _ in targets if n), None)
    if not enabled:
        findings.append(
            _finding(
                shown,
                1,
                "policy-no-rls",
                f"no `alter table {own or '<table>'} enable row level security`: without it "
                "the policies do nothing",
            )
        )
    for st, name, action in targets:
        if action == "disable-rls":
            findings.append(
                _finding(shown, st.line, "policy-no-rls", f"disables row-level security on {name}")
            )
        if name is None:
            findings.append(
                _finding(
                    shown,
                    st.line,
                    "policy-other-table",
                    f"`{st.head(3)} ...` is not about {own or 'this table'}: move it to a migration",
                )
            )
        elif table_key(name) != own:
            findings.append(
                _finding(
                    shown,
                    st.line,
                    "policy-other-table",
                    f"touches {table_key(name)}, but this file manages {own}: "
                    f"move it to policies/ for {name}",
                )
            )
        if action == "create-policy":
            problem = _always_true_write(st)
            if problem:
                findings.append(_finding(shown, st.line, "policy-always-true-write", problem))
    return findings


def _always_true_write(st: Statement) -> str | None:
    toks = st.tokens
    policy = toks[2].name if len(toks) > 2 else "?"
    if index_of(toks, "restrictive") >= 0:
        return None  # a restrictive policy only narrows: `true` there grants nothing
    at = index_of(toks, "for")
    command = toks[at + 1].text if at >= 0 and at + 1 < len(toks) else "all"
    if command == "select":
        return None
    roles = {"public"}
    at = index_of(toks, "to")
    if at >= 0:
        end = min(
            [i for i in (index_of(toks, "using", at), index_of(toks, "with", at)) if i >= 0] or [len(toks)]
        )
        roles = {t.name.lower() for t in toks[at + 1 : end] if t.kind in ("word", "quoted")}
    exposed = sorted(roles & _WRITE_ROLES)
    if not exposed:
        return None
    using_at, check_at = index_of(toks, "using"), index_of(toks, "check")
    using = parenthesized(toks, using_at + 1)[0] if using_at >= 0 else None
    check = parenthesized(toks, check_at + 1)[0] if check_at >= 0 else None
    who = ", ".join(exposed)
    if command == "insert" and check is None:
        return f'INSERT policy "{policy}" has no WITH CHECK: {who} may insert any row'
    effective_check = check if check is not None else using
    for label, expr in (("USING", using), ("WITH CHECK", effective_check)):
        if expr is not None and always_true(expr):
            return (
                f'{command.upper()} policy "{policy}" for {who} has an always-true {label}: '
                "scope it to the caller"
            )
    return None


# --- checks -----------------------------------------------------------------------------------


def check_findings(lint_file: LintFile, text: str, parsed: SqlText) -> list[Finding]:
    shown = lint_file.display
    findings: list[Finding] = []
    headers = parse_headers(text)
    missing = [key for key in _CHECK_HEADERS if not headers.get(key)]
    if missing:
        findings.append(
            _finding(
                shown, 1, "check-header", "missing header line(s): " + ", ".join(f"-- {k}:" for k in missing)
            )
        )
    severity = headers.get("severity")
    if severity and severity not in _CHECK_SEVERITIES:
        findings.append(
            _finding(shown, 1, "check-header", f"severity {severity!r} is not one of error, warn, info")
        )
    if not parsed.statements:
        findings.append(_finding(shown, 1, "check-single-select", "holds no statement: write one SELECT"))
        return findings
    for extra in parsed.statements[1:]:
        findings.append(
            _finding(
                shown,
                extra.line,
                "check-single-select",
                f"a second statement (`{extra.head(3)} ...`): a check is one SELECT",
            )
        )
    first = parsed.statements[0]
    if first.words(1)[:1] not in (["select"], ["with"]) or first.sqlparse_type != "SELECT":
        findings.append(
            _finding(shown, first.line, "check-single-select", f"`{first.head(3)} ...` is not a SELECT")
        )
    for st in parsed.statements:
        findings.extend(_write_findings(shown, st))
    return findings


def _write_findings(shown: str, st: Statement) -> Iterable[Finding]:
    toks = st.tokens
    for i, tok in enumerate(toks):
        if tok.kind != "word":
            continue
        after = toks[i + 1].text if i + 1 < len(toks) else ""
        before = toks[i - 1].text if i > 0 else ""
        reason = None
        if tok.text in _WRITE_KEYWORDS and before not in (".", "as", "for") and after not in ("(", "."):
            reason = f"{tok.text.upper()} changes data or schema"
        elif tok.text == "into" and before != "insert":
            reason = "SELECT INTO creates a table"
        elif tok.text == "for" and after in ("update", "share", "no", "key"):
            reason = f"FOR {after.upper()} takes row locks"
        elif tok.text in _SIDE_EFFECT_FUNCTIONS and after == "(":
            reason = f"{tok.text}() has side effects"
        if reason:
            yield _finding(shown, tok.line, "check-read-only", f"not read-only: {reason}")
            return


def check_id_findings(checks: list[tuple[LintFile, str]]) -> list[Finding]:
    seen: dict[str, str] = {}
    findings: list[Finding] = []
    for lint_file, text in sorted(checks, key=lambda c: c[0].display):
        check_id = parse_headers(text).get("id")
        if not check_id:
            continue
        if check_id in seen:
            findings.append(
                _finding(
                    lint_file.display,
                    1,
                    "check-duplicate-id",
                    f"id {check_id!r} is already used by {seen[check_id]}",
                )
            )
        else:
            seen[check_id] = lint_file.display
    return findings


def file_findings(lint_file: LintFile, text: str, parsed: SqlText | None = None) -> list[Finding]:
    """The per-file rules for the file's kind."""
    parsed = parsed or parse_sql(text)
    if lint_file.kind in ("migration", "rollback") and not lint_file.transactional:
        return non_transactional_findings(lint_file, parsed)
    if lint_file.kind == "policy":
        return policy_findings(lint_file, parsed)
    if lint_file.kind == "check":
        return check_findings(lint_file, text, parsed)
    return []
