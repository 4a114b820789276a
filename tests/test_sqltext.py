"""ops.sqltext: PostgreSQL's own lexer and parser split, classify and normalise SQL."""

from __future__ import annotations

import pytest

from ops import sqltext
from ops.sqltext import ScanError


def test_split_keeps_begin_atomic_bodies_whole_and_names_lines() -> None:
    text = (
        "-- header\n"
        "create table t (a int);\n"
        "\n"
        "create function f() returns int language sql\n"
        "begin atomic\n"
        "  select 1;\n"
        "  select 2;\n"
        "end;\n"
        "/* a; b */ insert into t values (';'), ($$;$$);\n"
    )
    statements = sqltext.split(text)
    assert [s.line for s in statements] == [2, 4, 9]
    assert [s.end_line for s in statements] == [2, 8, 9]
    assert [s.node_type for s in statements] == ["CreateStmt", "CreateFunctionStmt", "InsertStmt"]
    assert statements[1].sql.endswith("end")
    assert statements[2].sql.startswith("insert")  # the comment before it is not its code


def test_an_unparsable_text_still_splits_at_top_level_semicolons() -> None:
    statements = sqltext.split("select 1;\nselec 'a;b' from t;\nselect %(p)s;")
    assert [(s.line, s.node_type) for s in statements] == [(1, "SelectStmt"), (2, None), (3, None)]
    assert statements[1].sql == "selec 'a;b' from t"


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("begin", "BEGIN"),
        ("BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE", "BEGIN"),
        ("start transaction", "START TRANSACTION"),
        ("commit", "COMMIT"),
        ("end", "COMMIT"),
        ("commit and chain", "COMMIT AND CHAIN"),
        ("rollback", "ROLLBACK"),
        ("abort", "ROLLBACK"),
        ("savepoint s", "SAVEPOINT"),
        ("release savepoint s", "RELEASE"),
        ("rollback to savepoint s", "ROLLBACK TO"),
        ("prepare transaction 'x'", "PREPARE TRANSACTION"),
        ("commit prepared 'x'", "COMMIT PREPARED"),
        ("select 1", None),
        ("create function f() returns void language plpgsql as $$ begin commit; end $$", None),
    ],
)
def test_transaction_control_is_what_the_parser_says(sql: str, kind: str | None) -> None:
    (statement,) = sqltext.split(sql + ";")
    assert statement.transaction_control == kind


def test_an_unterminated_string_is_a_scan_error_with_its_offset() -> None:
    with pytest.raises(ScanError, match="unterminated quoted string") as info:
        sqltext.split("select 1;\nselect 'open")
    assert info.value.offset == 17


def test_tokens_keep_literals_and_quoted_names_as_written_and_fold_the_rest() -> None:
    tokens = [
        t for t in sqltext.scan("SELECT \"Mixed\", Plain, E'A', $q$Body$q$ -- c\n") if t.kind != "comment"
    ]
    assert [(t.text, t.kind) for t in tokens] == [
        ("select", "word"), ('"Mixed"', "quoted"), (",", "punct"), ("plain", "word"), (",", "punct"),
        ("E'A'", "literal"), (",", "punct"), ("$q$Body$q$", "literal"),
    ]  # fmt: skip
    assert tokens[1].name == "Mixed"
