"""SQL files as statements of tokens, for dbops' own lint rules and inline waivers.

The statements and tokens are `ops.sqltext`'s, the same ones the migration runner reads:
PostgreSQL's own lexer and parser decide where a statement ends and what a string, a
quoted name or a comment is, so lint and runtime cannot disagree on a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ops import sqltext
from ops.sqltext import Statement, Token

_WAIVER = re.compile(r"^--\s*dbops:\s*(ignore(?:-file)?)\b\s*(\S*)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Waiver:
    line: int
    rule: str
    reason: str
    whole_file: bool
    trailing: bool  # written after code on the same line


@dataclass(frozen=True)
class SqlText:
    statements: tuple[Statement, ...]
    waivers: tuple[Waiver, ...]
    unreadable: sqltext.ScanError | None = None  # where PostgreSQL's lexer stops reading the file
    unreadable_line: int = 0
    unreadable_column: int = 0


def parse_sql(text: str) -> SqlText:
    """Statements with their code tokens and lines, plus the `-- dbops: ignore` comments."""
    try:
        tokens = sqltext.scan(text)
    except sqltext.ScanError as exc:
        line_start = text.rfind("\n", 0, exc.offset) + 1
        return SqlText((), (), exc, text.count("\n", 0, exc.offset) + 1, exc.offset - line_start + 1)
    waivers: list[Waiver] = []
    last_code_line = 0
    for tok in tokens:
        if tok.kind != "comment":
            last_code_line = tok.line + tok.text.count("\n")
            continue
        match = _WAIVER.match(tok.text)
        if match:
            waivers.append(
                Waiver(
                    line=tok.line,
                    rule=match.group(2),
                    reason=match.group(3),
                    whole_file=match.group(1) == "ignore-file",
                    trailing=last_code_line == tok.line,
                )
            )
    return SqlText(tuple(sqltext.split(text)), tuple(waivers))


def waiver_scope(waiver: Waiver, statements: tuple[Statement, ...]) -> tuple[int, int] | None:
    """The lines a waiver covers: the statement it trails, sits in, or comes before."""
    if waiver.whole_file:
        return (1, 1 << 30)
    for st in statements:
        if st.line <= waiver.line <= st.end_line:
            return (st.line, st.end_line)
        if waiver.trailing and st.end_line == waiver.line:
            return (st.line, st.end_line)
    for st in statements:
        if st.line > waiver.line:
            return (st.line, st.end_line)
    return None


def qualified_name(tokens: tuple[Token, ...], at: int) -> tuple[str | None, int]:
    """The (possibly schema-qualified) name starting at `at`, and the index after it."""
    parts: list[str] = []
    i = at
    while i < len(tokens) and tokens[i].kind in ("word", "quoted"):
        parts.append(tokens[i].name)
        if i + 1 < len(tokens) and tokens[i + 1].text == ".":
            i += 2
            continue
        i += 1
        break
    if not parts:
        return None, at
    return ".".join(parts), i


def name_after(
    tokens: tuple[Token, ...], at: int, skip: tuple[str, ...] = ("if", "not", "exists", "only")
) -> tuple[str | None, int]:
    """The name a DDL statement acts on, from `at` past its modifiers: `alter table if exists
    only s.t`, `create table if not exists t` -> (name, the index after it)."""
    while at < len(tokens) and tokens[at].text in skip:
        at += 1
    return qualified_name(tokens, at)


def table_key(name: str) -> str:
    """`users` and `public.users` are the same table."""
    return name if "." in name else f"public.{name}"


def index_of(tokens: tuple[Token, ...], word: str, start: int = 0) -> int:
    """Index of `word` at parenthesis depth 0 from `start`, or -1."""
    depth = 0
    for i in range(start, len(tokens)):
        t = tokens[i]
        if t.kind == "punct" and t.text == "(":
            depth += 1
        elif t.kind == "punct" and t.text == ")":
            depth -= 1
        elif depth == 0 and t.kind == "word" and t.text == word:
            return i
    return -1


def parenthesized(tokens: tuple[Token, ...], at: int) -> tuple[tuple[Token, ...], int]:
    """The tokens inside the parentheses opening at `at`, and the index after the closing one."""
    if at >= len(tokens) or tokens[at].text != "(":
        return (), at
    depth = 0
    for i in range(at, len(tokens)):
        if tokens[i].text == "(":
            depth += 1
        elif tokens[i].text == ")":
            depth -= 1
            if depth == 0:
                return tokens[at + 1 : i], i + 1
    return tokens[at + 1 :], len(tokens)


def always_true(expr: tuple[Token, ...]) -> bool:
    """An expression that holds for every row: true, (true), 1 = 1, 'true'::boolean, not false."""
    text = "".join(t.text for t in expr).replace(" ", "")
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    text = re.sub(r"::bool(ean)?$", "", text)
    return text in {"true", "1=1", "'t'", "'true'", "notfalse", "'1'='1'"}


__all__ = [
    "SqlText",
    "Statement",
    "Token",
    "Waiver",
    "always_true",
    "index_of",
    "name_after",
    "parenthesized",
    "parse_sql",
    "qualified_name",
    "table_key",
    "waiver_scope",
]
