"""Policy-file rules: RLS on, one table only, no always-true write policy for anon/authenticated."""

from __future__ import annotations

from ops.lint_model import Finding, LintFile
from ops.lint_rules import finding
from ops.lint_sql import SqlText, Statement, always_true, index_of, parenthesized, qualified_name, table_key

_WRITE_ROLES = {"public", "anon", "authenticated"}


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
            finding(
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
                finding(shown, st.line, "policy-no-rls", f"disables row-level security on {name}")
            )
        if name is None:
            findings.append(
                finding(
                    shown,
                    st.line,
                    "policy-other-table",
                    f"`{st.head(3)} ...` is not about {own or 'this table'}: move it to a migration",
                )
            )
        elif table_key(name) != own:
            findings.append(
                finding(
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
                findings.append(finding(shown, st.line, "policy-always-true-write", problem))
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
