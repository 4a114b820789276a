"""SQL files as statements of tokens, for dbops' own lint rules and inline waivers.

The project's lexer (`ops.sqltext`) is enough here: the rules look at the shape of a
statement (its leading words, the table it targets, a policy's roles and predicates), never
at full semantics, and it keeps dollar-quoted bodies, string literals and comments apart
from code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ops import sqltext

_WAIVER = re.compile(r"^--\s*dbops:\s*(ignore(?:-file)?)\b\s*(\S*)\s*(.*?)\s*$")
_MAIN_VERBS = {"select", "insert", "update", "delete", "merge", "values", "table"}


@dataclass(frozen=True)
class Token:
    text: str  # lower-case for words, as written for quoted names and literals
    line: int
    kind: str  # "word" | "quoted" | "literal" | "punct" | "op"

    @property
    def name(self) -> str:
        """The identifier it denotes: unquoted words fold to lower case, quoted keep theirs."""
        if self.kind == "quoted":
            return self.text[1:-1].replace('""', '"')
        return self.text


@dataclass(frozen=True)
class Statement:
    tokens: tuple[Token, ...]  # code only: no whitespace, no comments, no final ';'
    line: int  # first line of code
    end_line: int  # line of its last code token (or ';')

    def words(self, count: int | None = None) -> list[str]:
        words = [t.text for t in self.tokens if t.kind == "word"]
        return words if count is None else words[:count]

    @property
    def verb(self) -> str:
        """What the statement does: its first word; for WITH, the main statement's first word."""
        first = self.tokens[0].text if self.tokens else ""
        if first != "with":
            return first
        depth = 0
        for t in self.tokens[1:]:
            if t.text == "(":
                depth += 1
            elif t.text == ")":
                depth -= 1
            elif depth == 0 and t.kind == "word" and t.text in _MAIN_VERBS:
                return t.text
        return first

    def head(self, count: int = 3) -> str:
        """The statement's first tokens, to name it in a message."""
        parts: list[str] = []
        for i, t in enumerate(self.tokens):
            parts.append(t.text)
            qualified = i + 1 < len(self.tokens) and self.tokens[i + 1].text == "."
            if t.text != "." and not qualified:
                count -= 1
                if count == 0:
                    break
        return " ".join(parts).replace(" . ", ".")


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


def _code_tokens(kind: str, value: str, line: int) -> list[Token]:
    if kind == "word":  # sqltext keeps `schema.table` together: split it at the dots
        parts = value.lower().split(".")
        out = [Token(parts[0], line, "word")]
        for part in parts[1:]:
            out += [Token(".", line, "punct"), Token(part, line, "word")]
        return [t for t in out if t.text]
    if kind == "ident":
        return [Token(value, line, "quoted")]
    if kind in ("string", "dollar"):
        return [Token(value, line, "literal")]
    return [Token(value, line, "punct" if value in "()," else "op")]


def parse_sql(text: str) -> SqlText:
    """Statements with their code tokens and lines, plus the `-- dbops: ignore` comments."""
    statements: list[Statement] = []
    waivers: list[Waiver] = []
    current: list[Token] = []
    line = 1
    last_code_line = 0
    for tok in sqltext.tokens(text):
        value = text[tok.start : tok.end]
        start_line = line
        line += value.count("\n")
        if tok.kind == "ws":
            continue
        if tok.kind == "comment":
            match = _WAIVER.match(value)
            if match:
                waivers.append(
                    Waiver(
                        line=start_line,
                        rule=match.group(2),
                        reason=match.group(3),
                        whole_file=match.group(1) == "ignore-file",
                        trailing=last_code_line == start_line,
                    )
                )
            continue
        last_code_line = line
        if tok.kind == "semi":
            if current:
                statements.append(Statement(tuple(current), current[0].line, line))
            current = []
            continue
        current.extend(_code_tokens(tok.kind, value, start_line))
    if current:
        statements.append(Statement(tuple(current), current[0].line, last_code_line))
    return SqlText(tuple(statements), tuple(waivers))


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
