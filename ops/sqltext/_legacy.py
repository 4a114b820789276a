"""The normaliser of dbops before it read SQL with PostgreSQL's own lexer.

Checksums that users' databases recorded with it stay valid: `migrate` accepts a file whose
comment-free form matches either normaliser and records the current one's. Nothing else
reads SQL with this module.
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


class _Token(NamedTuple):
    kind: str  # ws | comment | string | ident | dollar | semi | word | other
    start: int
    end: int


def _tokens(text: str) -> Iterator[_Token]:
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
        yield _Token(kind, pos, end)
        pos = end


def _block_end(text: str, start: int) -> int:
    depth, pos = 0, start
    for match in _BLOCK.finditer(text, start):
        depth += 1 if match.group() == "/*" else -1
        pos = match.end()
        if depth == 0:
            return pos
    return len(text)


def legacy_normalize(text: str) -> str:
    """The SQL without comments, whitespace collapsed to single spaces."""
    parts: list[str] = []
    for tok in _tokens(text):
        if tok.kind == "comment":
            continue
        if tok.kind == "ws":
            if parts and parts[-1] != " ":
                parts.append(" ")
        else:
            parts.append(text[tok.start : tok.end])
    return "".join(parts).strip()
