"""The static twins of the policy checks, read from a policy file's CREATE POLICY statements:

- `policy-per-row-call` (check rls_policy_per_row_call): a call of the caller's id or claims
  (`current_setting(...)`, or a schema-qualified function such as `app.current_user_id()`
  whose arguments name no column) outside a scalar subquery: it runs for every row;
- `policy-null-caller-disjunct` (check rls_policy_null_caller_disjunct): an OR arm
  `<caller call> IS NULL` in a permissive policy: callers without claims pass for every row;
- `policy-multiple-permissive` (check rls_multiple_permissive_policies): two permissive
  policies of the file that apply to the same command and role.

A function is "of the caller" by its shape here (the live check asks pg_proc): a call with no
column among its arguments, to current_setting or to a function outside pg_catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ops.lint.model import Finding, LintFile
from ops.lint.rules.migrations import finding
from ops.lint.statements import Statement, Token, index_of, parenthesized, qualified_name, table_key

_COMMANDS = ("select", "insert", "update", "delete")
_NOT_COLUMNS = {"true", "false", "null", "as", "text", "uuid", "jsonb", "json", "boolean", "int", "bigint"}


@dataclass(frozen=True)
class Policy:
    name: str
    table: str  # schema.table
    line: int
    permissive: bool
    commands: frozenset[str]
    roles: frozenset[str]
    clauses: tuple[tuple[str, tuple[Token, ...]], ...]  # ("USING" | "WITH CHECK", expression)


def read_policy(st: Statement) -> Policy:
    toks = st.tokens
    name = toks[2].name if len(toks) > 2 else "?"
    at = index_of(toks, "for")
    command = toks[at + 1].text if at >= 0 and at + 1 < len(toks) else "all"
    roles: set[str] = {"public"}
    at = index_of(toks, "to")
    if at >= 0:
        end = min(
            [i for i in (index_of(toks, "using", at), index_of(toks, "with", at)) if i >= 0] or [len(toks)]
        )
        roles = {t.name.lower() for t in toks[at + 1 : end] if t.kind in ("word", "quoted")}
    clauses = []
    using_at, check_at = index_of(toks, "using"), index_of(toks, "check")
    if using_at >= 0:
        clauses.append(("USING", parenthesized(toks, using_at + 1)[0]))
    if check_at >= 0:
        clauses.append(("WITH CHECK", parenthesized(toks, check_at + 1)[0]))
    on = index_of(toks, "on")
    table = qualified_name(toks, on + 1)[0] if on >= 0 else None
    return Policy(
        name,
        table_key(table or "?"),
        st.line,
        index_of(toks, "restrictive") < 0,
        frozenset(_COMMANDS if command == "all" else (command,)),
        frozenset(roles),
        tuple(clauses),
    )


def _caller_calls(expr: Sequence[Token]) -> list[tuple[int, int, bool]]:
    """(start, end, wrapped) of each call of the caller: `start` is the function name's index,
    `end` the index after its closing parenthesis, `wrapped` whether a `(select ...)` holds it."""
    calls = []
    select_depths: list[bool] = []  # per open parenthesis: does a SELECT follow it?
    for i, t in enumerate(expr):
        if t.text == "(":
            select_depths.append(i + 1 < len(expr) and expr[i + 1].text == "select")
        elif t.text == ")" and select_depths:
            select_depths.pop()
        if t.kind != "word" or i + 1 >= len(expr) or expr[i + 1].text != "(":
            continue
        qualified = i >= 2 and expr[i - 1].text == "." and expr[i - 2].text != "pg_catalog"
        if not (t.text == "current_setting" or qualified):
            continue
        args, end = parenthesized(tuple(expr), i + 1)
        if any(a.kind in ("word", "quoted") and a.text not in _NOT_COLUMNS for a in args):
            continue  # a column among the arguments: per row by nature
        start = i - 2 if qualified else i
        calls.append((start, end, any(select_depths)))
    return calls


def _call_text(expr: Sequence[Token], start: int, end: int) -> str:
    return "".join(t.text for t in expr[start:end])


def per_row_call_findings(lint_file: LintFile, st: Statement, policy: Policy) -> list[Finding]:
    out = []
    for label, expr in policy.clauses:
        for start, end, wrapped in _caller_calls(expr):
            if not wrapped:
                call = _call_text(expr, start, end)
                out.append(
                    finding(
                        lint_file.display,
                        expr[start].line,
                        "policy-per-row-call",
                        f'policy "{policy.name}" {label} calls {call} for every row: '
                        f"write (select {call}) so it runs once per statement",
                    )
                )
    return out


def null_caller_findings(lint_file: LintFile, st: Statement, policy: Policy) -> list[Finding]:
    if not policy.permissive:
        return []
    out = []
    for label, expr in policy.clauses:
        depth = _depths(expr)
        calls = _caller_calls(expr)
        for i in range(len(expr) - 1):
            if not (expr[i].text == "is" and expr[i + 1].text == "null"):
                continue
            lo, hi = _group(depth, i)
            level = depth[i]
            arm = max(
                (k + 1 for k in range(lo, i) if depth[k] == level and expr[k].text in ("and", "or")),
                default=lo,
            )
            inside = [c for c in calls if arm <= c[0] and c[1] <= i]
            covered = {k for c in inside for k in range(c[0], c[1])}
            bare = [
                t
                for k, t in enumerate(expr[arm:i], arm)
                if k not in covered
                and t.kind in ("word", "quoted")
                and t.text not in _NOT_COLUMNS | {"select"}
            ]
            ored = any(depth[k] == level and expr[k].text == "or" for k in range(lo, hi))
            if inside and not bare and ored:
                call = _call_text(expr, inside[0][0], inside[0][1])
                out.append(
                    finding(
                        lint_file.display,
                        expr[i].line,
                        "policy-null-caller-disjunct",
                        f'policy "{policy.name}" {label} has an OR arm "{call} is null": a caller without '
                        "claims passes it for every row; drop it and give anon its own policy",
                    )
                )
    return out


def _depths(expr: Sequence[Token]) -> list[int]:
    """Each token's parenthesis depth (a parenthesis counts as outside the group it opens)."""
    out, d = [], 0
    for t in expr:
        if t.text == ")":
            d -= 1
        out.append(d)
        if t.text == "(":
            d += 1
    return out


def _group(depth: list[int], i: int) -> tuple[int, int]:
    """[lo, hi): the tokens of the parenthesised group holding token i."""
    lo = i
    while lo > 0 and depth[lo - 1] >= depth[i]:
        lo -= 1
    hi = i
    while hi < len(depth) and depth[hi] >= depth[i]:
        hi += 1
    return lo, hi


def multiple_permissive_findings(
    lint_file: LintFile, policies: Sequence[tuple[Statement, Policy]]
) -> list[Finding]:
    out = []
    seen: list[Policy] = []
    for _, policy in policies:
        if not policy.permissive:
            continue
        for earlier in (p for p in seen if p.table == policy.table):
            commands = policy.commands & earlier.commands
            roles = _overlap(policy.roles, earlier.roles)
            if commands and roles:
                out.append(
                    finding(
                        lint_file.display,
                        policy.line,
                        "policy-multiple-permissive",
                        f'policy "{policy.name}" and "{earlier.name}" (line {earlier.line}) are both '
                        f"permissive for {', '.join(c.upper() for c in _COMMANDS if c in commands)} to "
                        f"{', '.join(sorted(roles))}: every row runs both; merge them into one policy",
                    )
                )
                break
        seen.append(policy)
    return out


def _overlap(a: frozenset[str], b: frozenset[str]) -> set[str]:
    if "public" in a:
        return set(b)
    if "public" in b:
        return set(a)
    return set(a & b)
