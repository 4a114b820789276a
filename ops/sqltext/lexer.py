"""A small, fast SQL lexer: enough to split a file into statements and to strip comments.

It knows what can hide a semicolon or a comment marker in PostgreSQL: quoted strings
('' escapes, E'' backslash escapes), quoted identifiers, dollar-quoted bodies and nested
block comments.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

_TOKEN = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<line_comment>--[^\n]*)
    |(?P<block_comment>/\*)
    |(?P<dollar>\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$)
    |(?P<string>[eE]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*')
    |(?P<ident>"(?:[^"]|"")*")
    |(?P<semi>;)
    |(?P<word>[A-Za-z0-9_.]+)
    |(?P<other>.)
    """,
    re.X | re.S,
)
_BLOCK = re.compile(r"/\*|\*/")


class Token(NamedTuple):
    kind: str  # ws | comment | string | ident | dollar | semi | word | other
    start: int
    end: int


def tokens(text: str) -> Iterator[Token]:
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        assert match is not None and match.lastgroup is not None  # `other` matches any character
        kind, end = match.lastgroup, match.end()
        if kind == "block_comment":
            kind, end = "comment", _block_end(text, pos)
        elif kind == "line_comment":
            kind = "comment"
        elif kind == "dollar":
            closing = text.find(match.group(), end)
            end = len(text) if closing < 0 else closing + len(match.group())
        yield Token(kind, pos, end)
        pos = end


def _block_end(text: str, start: int) -> int:
    depth, pos = 0, start
    for match in _BLOCK.finditer(text, start):
        depth += 1 if match.group() == "/*" else -1
        pos = match.end()
        if depth == 0:
            return pos
    return len(text)


def split(text: str) -> list[tuple[int, int]]:
    """(start, end) of each statement that holds code; leading comments included."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    has_code = False
    last = 0
    for tok in tokens(text):
        if tok.kind == "ws":
            continue
        if start is None:
            start = tok.start
        last = tok.end
        if tok.kind == "semi":
            if has_code:
                spans.append((start, tok.end))
            start, has_code = None, False
        elif tok.kind != "comment":
            has_code = True
    if start is not None and has_code:
        spans.append((start, last))
    return spans


def normalize(text: str) -> str:
    """The SQL without comments, whitespace collapsed to single spaces."""
    parts: list[str] = []
    for tok in tokens(text):
        if tok.kind == "comment":
            continue
        if tok.kind == "ws":
            if parts and parts[-1] != " ":
                parts.append(" ")
        else:
            parts.append(text[tok.start : tok.end])
    return "".join(parts).strip()
