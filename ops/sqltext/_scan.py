"""SQL text as PostgreSQL's own lexer reads it (libpg_query, through pglast).

One token stream serves the migration runner, the checksum normaliser and `dbops lint`:
what can hide a semicolon or a comment marker (quoted strings, E'' and U&'' strings,
quoted identifiers, dollar-quoted bodies, nested block comments) is decided by the server's
own scanner, not by a second, hand-written one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pglast import parser

TokenKind = Literal["word", "quoted", "literal", "param", "punct", "op", "semi", "comment"]

_LITERALS = frozenset({"SCONST", "USCONST", "BCONST", "XCONST", "ICONST", "FCONST"})
_QUOTED = frozenset({"IDENT", "UIDENT"})  # quoted when the text starts with a quote
_PUNCT = frozenset("(),.[]")


class ScanError(ValueError):
    """The text cannot be read as SQL (an unterminated string, identifier or comment)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Token:
    text: str  # lower case for keywords and unquoted names; as written for quoted names and literals
    kind: TokenKind
    start: int  # character offsets into the scanned text, end exclusive
    end: int
    line: int  # 1-based line of its first character

    @property
    def name(self) -> str:
        """The identifier it denotes: unquoted words fold to lower case, quoted keep theirs."""
        if self.kind == "quoted" and self.text.startswith('"'):
            return self.text[1:-1].replace('""', '"')
        return self.text


def _kind(name: str, keyword: str, raw: str) -> TokenKind:
    if name in ("SQL_COMMENT", "C_COMMENT"):
        return "comment"
    if name in _LITERALS:
        return "literal"
    if name == "PARAM":
        return "param"
    if name in _QUOTED and raw[:1] in ('"', "U", "u") and raw[-1:] == '"':
        return "quoted"
    if name in _QUOTED or keyword != "NO_KEYWORD":
        return "word"
    if raw == ";":
        return "semi"
    if raw in _PUNCT:
        return "punct"
    return "op"


def scan(text: str) -> list[Token]:
    """Every token of `text`, comments included; raises ScanError where the lexer stops."""
    try:
        raw_tokens = parser.scan(text)
    except parser.ParseError as exc:
        message, offset = (*exc.args, 0)[:2]
        raise ScanError(" ".join(str(message).split()), int(offset)) from exc
    out: list[Token] = []
    line, counted = 1, 0
    for tok in raw_tokens:
        line += text.count("\n", counted, tok.start)
        counted = tok.start
        raw = text[tok.start : tok.end + 1]
        kind = _kind(tok.name, tok.kind, raw)
        out.append(Token(raw.lower() if kind == "word" else raw, kind, tok.start, tok.end + 1, line))
    return out


def normalize(text: str) -> str:
    """The code of `text` with comments dropped and tokens joined by one space.

    Only whitespace, comments and the case of keywords and unquoted names (which PostgreSQL
    folds) disappear: a change inside a string literal, a quoted identifier or a
    dollar-quoted body, in case too, changes the result. A text the lexer cannot read
    normalises to itself, stripped, so that any edit of it counts.
    """
    try:
        tokens = scan(text)
    except ScanError:
        return text.strip()
    return " ".join(t.text for t in tokens if t.kind != "comment")
