"""What counts as a cosmetic edit of an applied migration, token kind by token kind.

An applied file whose normalised checksum still matches was only edited cosmetically (it is
reported, not refused). The normaliser may ignore whitespace between tokens and comments,
nothing else: a change inside a string literal, an E'' string, a quoted identifier or a
dollar-quoted body, a case change in any of them, or a changed number is a real edit.

The table goes through `read_migration(...).normalized_sha256`, the checksum that is
recorded and compared, so it holds whichever normaliser computes it. Two kinds of edit
PostgreSQL itself ignores are left to the normaliser (`EITHER`): the case of keywords and
unquoted names (folded by the parser) and whitespace added where there was none. A lexer
that keeps them refuses a harmless edit (safe); a parser-based normaliser accepts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from ops.migrations import read_migration

Verdict = Literal["cosmetic", "edited", "either"]
COSMETIC: Verdict = "cosmetic"
EDITED: Verdict = "edited"
EITHER: Verdict = "either"

# (token kind, before, after, verdict)
EDITS: list[tuple[str, str, str, Verdict]] = [
    # whitespace between tokens
    ("whitespace: more spaces", "create table a (id int);", "create   table  a   (id   int);", COSMETIC),
    (
        "whitespace: newlines, tabs",
        "create table a (id int);",
        "create\ttable a\n    (id int);\n",
        COSMETIC,
    ),
    ("whitespace: leading, trailing lines", "select 1;", "\n\n  select 1;  \n\n", COSMETIC),
    ("whitespace: where there was none", "create table a (id int);", "create table a ( id int ) ;", EITHER),
    # comments
    ("line comment added", "select 1;", "-- why: explained\nselect 1; -- trailing\n", COSMETIC),
    ("line comment reworded", "select 1; -- old words\n", "select 1; -- new words\n", COSMETIC),
    ("block comment added", "select 1;", "/* a\n   block */ select /* inline */ 1;", COSMETIC),
    ("block comment, nested", "select 1;", "/* outer /* inner */ still a comment */ select 1;", COSMETIC),
    (
        "block comment, nested, hiding code",
        "select 1;",
        "/* outer /* inner */ select 2; */ select 1;",
        COSMETIC,
    ),
    ("code after a nested comment", "/* a /* b */ c */ select 1;", "/* a /* b */ c */ select 2;", EDITED),
    ("code commented out", "select 1;\nselect 2;", "select 1;\n-- select 2;", EDITED),
    # string literals
    ("string: case", "select 'ADMIN';", "select 'admin';", EDITED),
    ("string: inner whitespace", "select 'a b';", "select 'a  b';", EDITED),
    ("string: inner newline", "select 'a b';", "select 'a\nb';", EDITED),
    ("string: doubled quote", "select 'it''s';", "select 'it''s ';", EDITED),
    ("string: comment marker inside", "select '-- a';", "select '-- b';", EDITED),
    ("string: block marker inside", "select '/* a */';", "select '/* b */';", EDITED),
    ("string: trailing whitespace", "select 'a';", "select 'a ';", EDITED),
    # E'' strings: backslash escapes
    ("E string: escape", r"select E'a\nb';", r"select E'a\tb';", EDITED),
    ("E string: escaped quote then marker", r"select E'it\'s -- a';", r"select E'it\'s -- b';", EDITED),
    ("E string: inner whitespace", r"select E'a\\ b';", r"select E'a\\  b';", EDITED),
    ("E string: case", r"select E'A\n';", r"select E'a\n';", EDITED),
    # quoted identifiers
    ("quoted identifier: case", 'create table "Users" (id int);', 'create table "users" (id int);', EDITED),
    (
        "quoted identifier: inner space",
        'create table "a b" (id int);',
        'create table "a  b" (id int);',
        EDITED,
    ),
    (
        "quoted identifier: marker inside",
        'create table "x--y" (id int);',
        'create table "x--z" (id int);',
        EDITED,
    ),
    # dollar-quoted bodies
    (
        "dollar body: inner whitespace",
        "do $$ begin perform 1; end $$;",
        "do $$ begin  perform 1; end $$;",
        EDITED,
    ),
    (
        "dollar body: case",
        "do $$ begin RAISE NOTICE 'x'; end $$;",
        "do $$ begin raise notice 'x'; end $$;",
        EDITED,
    ),
    (
        "dollar body: comment inside",
        "do $$ begin perform 1; end $$;",
        "do $$ begin perform 1; -- note\n end $$;",
        EDITED,
    ),
    (
        "tagged body: nested $$ string",
        "do $fn$ begin perform $$x$$; end $fn$;",
        "do $fn$ begin perform $$y$$; end $fn$;",
        EDITED,
    ),
    (
        "tagged body: marker and quote inside",
        "do $fn$ begin perform '--'; end $fn$;",
        "do $fn$ begin perform '-- '; end $fn$;",
        EDITED,
    ),
    (
        "tagged body: case",
        "do $fn$ begin perform 'A'; end $fn$;",
        "do $fn$ begin perform 'a'; end $fn$;",
        EDITED,
    ),
    # keyword and unquoted-name case: PostgreSQL folds it
    ("keyword case", "create table a (id int);", "CREATE TABLE a (id INT);", EITHER),
    ("unquoted name case", "create table a (id int);", "create table A (ID int);", EITHER),
    # numbers and plain words
    ("number", "alter table a alter id set default 10;", "alter table a alter id set default 100;", EDITED),
    ("number: scale", "select 1.5::numeric;", "select 1.50::numeric;", EDITED),
    ("number: sign", "select 1;", "select -1;", EDITED),
    ("type", "create table a (id int);", "create table a (id bigint);", EDITED),
    ("name", "create table a (id int);", "create table b (id int);", EDITED),
    ("statement added", "select 1;", "select 1;\nselect 2;", EDITED),
]


def _checksum(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / f"0001_{name}.sql"
    path.write_text(text, encoding="utf-8")
    return read_migration(path).normalized_sha256


@pytest.mark.parametrize(("kind", "before", "after", "verdict"), EDITS, ids=[e[0] for e in EDITS])
def test_an_edit_is_cosmetic_only_outside_tokens_that_carry_meaning(
    tmp_path: Path, kind: str, before: str, after: str, verdict: Verdict
) -> None:
    assert before != after
    same = _checksum(tmp_path, "before", before) == _checksum(tmp_path, "after", after)
    if verdict == COSMETIC:
        assert same, f"{kind}: a cosmetic edit changed the normalised checksum"
    elif verdict == EDITED:
        assert not same, f"{kind}: a real edit passed as cosmetic"


def test_the_table_covers_every_token_kind() -> None:
    kinds = " ".join(e[0] for e in EDITS)
    for word in ("whitespace", "line comment", "block comment", "nested", "string", "E string",
                 "quoted identifier", "dollar body", "tagged body", "keyword case", "number"):  # fmt: skip
        assert word in kinds, word
    verdicts = [e[3] for e in EDITS]
    assert verdicts.count(EDITED) > verdicts.count(COSMETIC) > verdicts.count(EITHER)
