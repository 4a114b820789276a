"""The project's one reading of SQL text: tokens, statement spans, the comment-free form."""

from ops.sqltext.lexer import Token, normalize, split, tokens

__all__ = [
    "Token",
    "normalize",
    "split",
    "tokens",
]
