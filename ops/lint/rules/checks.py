"""Check-file rules: the header lines, one SELECT, read-only, unique ids."""

from __future__ import annotations

from collections.abc import Iterable

from ops.checks.headers import header_problems
from ops.lint.model import Finding, LintFile
from ops.lint.rules.migrations import finding
from ops.lint.statements import SqlText, Statement
from ops.sqlfiles import parse_headers

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


def check_findings(lint_file: LintFile, text: str, parsed: SqlText) -> list[Finding]:
    shown = lint_file.display
    findings: list[Finding] = []
    for problem in header_problems(parse_headers(text)):
        findings.append(finding(shown, _header_line(text, problem.key), "check-header", problem.message))
    if not parsed.statements:
        findings.append(finding(shown, 1, "check-single-select", "holds no statement: write one SELECT"))
        return findings
    for extra in parsed.statements[1:]:
        findings.append(
            finding(
                shown,
                extra.line,
                "check-single-select",
                f"a second statement (`{extra.head(3)} ...`): a check is one SELECT",
            )
        )
    first = parsed.statements[0]
    if first.verb != "select":
        findings.append(
            finding(shown, first.line, "check-single-select", f"`{first.head(3)} ...` is not a SELECT")
        )
    for st in parsed.statements:
        findings.extend(_write_findings(shown, st))
    return findings


def _header_line(text: str, key: str) -> int:
    """The line of `-- key:` in the header, else 1 (a missing line is reported at the top)."""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            break
        if stripped.removeprefix("--").strip().lower().startswith(key + ":"):
            return number
    return 1


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
            yield finding(shown, tok.line, "check-read-only", f"not read-only: {reason}")
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
                finding(
                    lint_file.display,
                    1,
                    "check-duplicate-id",
                    f"id {check_id!r} is already used by {seen[check_id]}",
                )
            )
        else:
            seen[check_id] = lint_file.display
    return findings
