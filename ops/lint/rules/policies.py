"""Policy-file rules: RLS on, one table only, no always-true write policy for anon/authenticated."""

from __future__ import annotations

from ops.lint.model import Finding, LintFile
from ops.lint.rules.migrations import finding
from ops.lint.rules.policy_expressions import (
    multiple_permissive_findings,
    null_caller_findings,
    per_row_call_findings,
    read_policy,
)
from ops.lint.statements import (
    SqlText,
    Statement,
    Token,
    always_true,
    index_of,
    name_after,
    parenthesized,
    qualified_name,
    table_key,
)

_WRITE_ROLES = {"public", "anon", "authenticated"}


def _statement_target(st: Statement) -> tuple[tuple[str, ...], str]:
    """The tables a policy-file statement acts on (none when it is about no table), and what it does."""
    w = st.words(8)
    toks = st.tokens
    if w[:2] == ["alter", "table"]:
        name, after = name_after(toks, 2)
        rest = " ".join(t.text for t in toks[after:])
        for action in ("enable", "disable", "force", "no force"):
            if rest.startswith(action + " row level security"):
                return _names(name), action.replace(" ", "-") + "-rls"
        return _names(name), "alter-table"
    if w[:2] in (["create", "policy"], ["drop", "policy"], ["alter", "policy"]) or w[:3] == [
        "comment",
        "on",
        "policy",
    ]:
        on = index_of(toks, "on", 3 if w[0] == "comment" else 2)
        return _names(qualified_name(toks, on + 1)[0] if on >= 0 else None), f"{w[0]}-policy"
    if w[:3] == ["comment", "on", "table"]:
        return _names(qualified_name(toks, 3)[0]), "comment"
    if w[:1] in (["grant"], ["revoke"]):
        return _granted_tables(toks), w[0]
    return (), " ".join(w[:3])


def _names(name: str | None) -> tuple[str, ...]:
    return (name,) if name else ()


def _granted_tables(toks: tuple[Token, ...]) -> tuple[str, ...]:
    """`grant ... on [table] a, b to ...`: the tables; none for functions, schemas, `all tables`."""
    on = index_of(toks, "on")
    i = on + 1
    if on < 0 or i >= len(toks):
        return ()
    if toks[i].text == "table":
        i += 1
    elif toks[i].text in ("function", "schema", "sequence", "all", "procedure", "routine", "database"):
        return ()
    names: list[str] = []
    while i < len(toks):
        name, i = qualified_name(toks, i)
        if name is None:
            break
        names.append(name)
        if i < len(toks) and toks[i].text == ",":
            i += 1
        else:
            break
    return tuple(names)


def policy_findings(lint_file: LintFile, parsed: SqlText) -> list[Finding]:
    shown = lint_file.display
    findings: list[Finding] = []
    targets = [(st, *_statement_target(st)) for st in parsed.statements]
    enabled = [names[0] for _, names, action in targets if action == "enable-rls" and names]
    own = table_key(enabled[0]) if enabled else next((table_key(n[0]) for _, n, _ in targets if n), None)
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
    for st, names, action in targets:
        if action == "disable-rls":
            findings.append(
                finding(shown, st.line, "policy-no-rls", f"disables row-level security on {names[0]}")
            )
        if not names:
            findings.append(
                finding(
                    shown,
                    st.line,
                    "policy-other-table",
                    f"`{st.head(3)} ...` is not about {own or 'this table'}: move it to a migration",
                )
            )
        for name in names:
            if table_key(name) != own:
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
    policies = [(st, read_policy(st)) for st, _, action in targets if action == "create-policy"]
    for st, policy in policies:
        findings += per_row_call_findings(lint_file, st, policy)
        findings += null_caller_findings(lint_file, st, policy)
    findings += multiple_permissive_findings(lint_file, policies)
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
