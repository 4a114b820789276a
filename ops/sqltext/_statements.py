"""A file's statements, as PostgreSQL's parser splits them, with what each one is.

`split` asks the server's parser (through pglast) where statements end, so a semicolon
inside a `BEGIN ATOMIC` body does not end its function. A text the parser rejects is split
at the top-level semicolons of the lexer's tokens instead: the server will report its
error, and dbops must still name the statement and its line.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pglast
from pglast import ast, parser

from ops.sqltext._scan import ScanError, Token, scan

# statements that end, open or nest a transaction: never inside a transactional migration
_TRANSACTION_KINDS = {
    "TRANS_STMT_BEGIN": "BEGIN",
    "TRANS_STMT_START": "START TRANSACTION",
    "TRANS_STMT_COMMIT": "COMMIT",
    "TRANS_STMT_ROLLBACK": "ROLLBACK",
    "TRANS_STMT_SAVEPOINT": "SAVEPOINT",
    "TRANS_STMT_RELEASE": "RELEASE",
    "TRANS_STMT_ROLLBACK_TO": "ROLLBACK TO",
    "TRANS_STMT_PREPARE": "PREPARE TRANSACTION",
    "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED",
    "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED",
}
_MAIN_VERBS = frozenset({"select", "insert", "update", "delete", "merge", "values", "table"})
_TRANSACTION_WORDS = frozenset(
    {"begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release", "prepare"}
)


@dataclass(frozen=True)
class Statement:
    """One statement of a file: its text (code only), where it is, and its tokens."""

    sql: str
    start: int  # character offsets into the file, end exclusive, without the final ';'
    end: int
    line: int  # 1-based line of its first code character
    end_line: int
    tokens: tuple[Token, ...]  # code only: no comments, no final ';'

    @cached_property
    def node(self) -> ast.Node | None:
        """The parse tree's statement node; None where the parser refuses the statement."""
        try:
            parsed = pglast.parse_sql(self.sql)
        except parser.ParseError:
            return None
        return parsed[0].stmt if len(parsed) == 1 else None

    def words(self, count: int | None = None) -> list[str]:
        words = [t.text for t in self.tokens if t.kind == "word"]
        return words if count is None else words[:count]

    @property
    def verb(self) -> str:
        """What the statement does: its first word; for WITH, the main statement's first word."""
        first = self.tokens[0].text
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

    @property
    def node_type(self) -> str | None:
        """The parser's name for what it is: 'CreateStmt', 'IndexStmt', 'TransactionStmt', ..."""
        return type(self.node).__name__ if self.node is not None else None

    @property
    def transaction_control(self) -> str | None:
        """'COMMIT', 'BEGIN', ... when the statement opens, ends or nests a transaction."""
        if self.tokens[0].text not in _TRANSACTION_WORDS:
            return None  # parsing every statement costs more than all the rest
        if isinstance(self.node, ast.TransactionStmt):
            name = self.node.kind.name if self.node.kind is not None else "TRANS_STMT_BEGIN"
            kind = _TRANSACTION_KINDS.get(name, name)
            return f"{kind} AND CHAIN" if getattr(self.node, "chain", False) else kind
        return None


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _spans(text: str, tokens: list[Token]) -> list[tuple[int, int]]:
    try:
        return [(s.start, s.stop) for s in parser.split(text, with_parser=True, only_slices=True)]
    except parser.ParseError:
        pass
    spans: list[tuple[int, int]] = []
    first: Token | None = None
    last: Token | None = None
    for tok in tokens:
        if tok.kind == "comment":
            continue
        if tok.kind == "semi":
            if first is not None and last is not None:
                spans.append((first.start, last.end))
            first = None
            continue
        first, last = first or tok, tok
    if first is not None and last is not None:
        spans.append((first.start, last.end))
    return spans


def split(text: str) -> list[Statement]:
    """The statements of `text` that hold code, in order.

    Raises ScanError (with its offset) when the lexer cannot read the text at all.
    """
    tokens = scan(text)
    code = [t for t in tokens if t.kind not in ("comment", "semi")]
    out: list[Statement] = []
    i = 0
    for start, end in _spans(text, tokens):
        while i < len(code) and code[i].start < start:
            i += 1
        j = i
        while j < len(code) and code[j].start < end:
            j += 1
        own, i = tuple(code[i:j]), j
        if own:
            sql = text[start:end]
            line, end_line = _line_at(text, start), _line_at(text, own[-1].start)
            out.append(Statement(sql, start, end, line, end_line, own))
    return out


__all__ = ["ScanError", "Statement", "split"]
