"""The project's one reading of SQL text, by PostgreSQL's own lexer and parser (pglast).

`scan` gives tokens, `split` statements with their lines, tokens and parse-tree node,
`normalize` the comment-free form that content checksums compare. The migration runner,
the policy runner, the checksum normaliser and `dbops lint` all read SQL through it.
"""

from ops.sqltext._legacy import legacy_normalize
from ops.sqltext._scan import ScanError, Token, TokenKind, normalize, scan
from ops.sqltext._statements import Statement, split

__all__ = [
    "ScanError",
    "Statement",
    "Token",
    "TokenKind",
    "legacy_normalize",
    "normalize",
    "scan",
    "split",
]
