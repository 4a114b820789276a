"""dbops' own lint rules: what sqlfluff and squawk do not know about this project's files.

- migrations/: ids unique and numbered without gaps, a rollback for each, `-- depends:`
  naming existing, earlier migrations; a non-transactional file holds only statements that
  need to run outside a transaction, each re-runnable;
- policies/: a file enables RLS on its one table, touches nothing else, and gives anon or
  authenticated no always-true write policy;
- checks/: one read-only SELECT with the required header lines.

This module holds the registry of every own rule and the migration rules; the policy and
check rules live in `rules.policies` and `rules.checks`.
"""

from __future__ import annotations

import re
from pathlib import Path

from ops.lint.model import Finding, LintFile, RuleInfo
from ops.lint.statements import SqlText, Statement
from ops.migrations.files import MIGRATION_FILE, filename_problem
from ops.sarif import Level
from ops.sqlfiles import parse_headers, read_text

# id -> (level, help). The help is what SARIF shows next to a result.
RULES: dict[str, tuple[Level, str]] = {
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
    "policy-per-row-call": (
        "warning",
        "A policy reads the caller (current_setting, app.current_user_id(), ...) inside a scalar "
        "subquery, (select app.current_user_id()), so it runs once per statement, not once per row "
        "(check rls_policy_per_row_call).",
    ),
    "policy-null-caller-disjunct": (
        "error",
        "No permissive policy has an OR arm `<caller id> IS NULL`: a caller without claims would pass it "
        "for every row (check rls_policy_null_caller_disjunct).",
    ),
    "policy-multiple-permissive": (
        "warning",
        "One permissive policy per table, command and role: each extra one runs for every row "
        "(check rls_multiple_permissive_policies).",
    ),
    "check-header": (
        "error",
        "A check file starts with `-- id:`, `-- severity: error|warning|info`, `-- category:`, "
        "`-- description:` and `-- remediation:` lines.",
    ),
    "check-duplicate-id": ("error", "Each check id is used by one check file only."),
    "check-single-select": ("error", "A check file is exactly one SELECT statement (WITH ... SELECT too)."),
    "check-read-only": (
        "error",
        "A check only reads: no data-changing statement or CTE, no SELECT INTO, no FOR UPDATE/SHARE, "
        "no function with side effects (nextval, set_config, advisory locks, ...).",
    ),
    "unreadable-sql": (
        "error",
        "PostgreSQL's lexer reads the whole file: no unterminated string, quoted name or comment.",
    ),
    "waiver-no-reason": ("error", "`-- dbops: ignore RULE reason` needs a reason; a bare waiver is ignored."),
    "waiver-unused": ("warning", "A waiver that waives nothing is stale: remove it."),
}


def rule_infos() -> dict[str, RuleInfo]:
    return {rid: RuleInfo(rid, "dbops", help_text) for rid, (_, help_text) in RULES.items()}


def finding(path: str, line: int, rule: str, message: str, column: int = 1) -> Finding:
    return Finding(path, line, column, rule, RULES[rule][0], message, "dbops")


def migration_dir_findings(directory: Path, display: dict[Path, str]) -> list[Finding]:
    """Rules over a whole migrations directory; `display` names its files as reported."""
    findings: list[Finding] = []
    forward: dict[str, Path] = {}
    rollbacks: dict[str, Path] = {}
    for path in sorted(directory.glob("*.sql")):
        shown = display.get(path, path.name)
        match = MIGRATION_FILE.match(path.name)
        problem = filename_problem(path.name)
        if match is None or problem:
            findings.append(finding(shown, 1, "migration-filename", problem or path.name))
            continue
        stem = path.name.removesuffix(".sql").removesuffix(".rollback")
        (rollbacks if match.group(2) else forward)[stem] = path

    by_number: dict[int, list[str]] = {}
    for mid in forward:
        by_number.setdefault(int(mid[:4]), []).append(mid)
    for number, mids in sorted(by_number.items()):
        for mid in sorted(mids)[1:]:
            findings.append(
                finding(
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
                finding(
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
            findings.append(finding(shown, 1, "migration-no-rollback", f"{mid} has no {mid}.rollback.sql"))
        findings.extend(_depends_findings(mid, path, shown, forward))
    for mid, path in sorted(rollbacks.items()):
        if mid not in forward:
            findings.append(
                finding(
                    display.get(path, path.name),
                    1,
                    "rollback-orphan",
                    f"{path.name} has no migration {mid}.sql",
                )
            )
    return findings


def _depends_findings(mid: str, path: Path, shown: str, forward: dict[str, Path]) -> list[Finding]:
    text = read_text(path)
    depends = parse_headers(text).get("depends", "").split()
    line = next((n for n, t in enumerate(text.splitlines(), 1) if re.match(r"--\s*depends\s*:", t)), 1)
    findings: list[Finding] = []
    if not depends and int(mid[:4]) > min(int(m[:4]) for m in forward):
        findings.append(
            finding(
                shown,
                1,
                "migration-no-depends",
                f"{mid} has no `-- depends:` line: name the migration it follows",
            )
        )
    for dep in depends:
        if dep not in forward:
            findings.append(
                finding(shown, line, "migration-unknown-depends", f"depends on {dep}, which does not exist")
            )
        elif dep[:4] >= mid[:4]:
            findings.append(
                finding(
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
        return True, True  # VACUUM FULL is the safety rule vacuum-full's
    if words[:2] == ["alter", "type"] and "add" in words and "value" in words:
        return True, "if not exists" in head
    if words[:1] in (["do"], ["call"]):
        body = " ".join(t.text.lower() for t in st.tokens if t.kind == "literal")
        commits = words[:1] == ["call"] or re.search(r"\b(commit|rollback)\b", body) is not None
        return commits, True  # a batched DO block's re-runnability is its author's to prove
    if words[:2] == ["alter", "table"] and "detach" in st.words() and "concurrently" in st.words():
        return True, True  # no IF EXISTS form; a detach interrupted half-way is ended with FINALIZE
    return False, True


def non_transactional_findings(lint_file: LintFile, parsed: SqlText) -> list[Finding]:
    findings: list[Finding] = []
    for st in parsed.statements:
        outside, rerunnable = _outside_transaction(st)
        head = st.head(4)
        if not outside:
            findings.append(
                finding(
                    lint_file.display,
                    st.line,
                    "non-transactional-statement",
                    f"{head} ... can run in a transaction: move it to a transactional migration "
                    "so a failure rolls it back",
                )
            )
        elif not rerunnable:
            findings.append(
                finding(
                    lint_file.display,
                    st.line,
                    "non-transactional-not-rerunnable",
                    f"{head} ... is not re-runnable: add IF NOT EXISTS / IF EXISTS",
                )
            )
    return findings
