"""Reading migration files: statements with lines, checksums, ids, new files (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.errors import ConfigError
from ops.migrations import (
    find,
    new_migration,
    normalize_sql,
    read_migration,
    read_migration_dir,
    split_statements,
)
from tests.server import ROOT


def test_statements_know_their_lines() -> None:
    text = "-- depends: x\n\ncreate table a (id int);\n\n-- comment only\n\nselect 1;\n"
    statements = split_statements(text)
    assert [s.line for s in statements] == [3, 7]  # the line of each statement's code
    assert statements[1].sql == "select 1"


def test_dollar_quoted_bodies_stay_whole() -> None:
    text = "do $$ begin perform 1; raise notice 'a;b'; end $$;\nselect 2;"
    assert len(split_statements(text)) == 2


def test_an_unterminated_string_is_refused_with_file_and_line() -> None:
    with pytest.raises(ConfigError, match=r"^0001_a.sql:2: unterminated quoted string"):
        split_statements("select 1;\nselect 'open;\n", "0001_a.sql")


def test_a_checksum_recorded_by_the_previous_normaliser_still_matches(tmp_path: Path) -> None:
    import hashlib

    from ops.sqltext import legacy_normalize

    path = tmp_path / "0001_a.sql"
    path.write_text("CREATE TABLE a (id int); -- why\n")
    legacy = hashlib.sha256(legacy_normalize(path.read_text()).encode()).hexdigest()
    current = read_migration(path)
    assert legacy != current.normalized_sha256  # the two normalisers differ on this file
    assert current.matches_recorded(legacy)
    path.write_text("create table a (id int);\n")  # a cosmetic edit under either normaliser
    assert read_migration(path).matches_recorded(current.normalized_sha256)
    path.write_text("create table a (id bigint);\n")
    assert not read_migration(path).matches_recorded(legacy)


def test_cosmetic_edits_keep_the_normalized_checksum(tmp_path: Path) -> None:
    path = tmp_path / "0001_a.sql"
    path.write_text("create table a (id int);\n")
    before = read_migration(path)
    path.write_text("-- why: explained\ncreate   table a (id int);   -- trailing\n\n")
    cosmetic = read_migration(path)
    path.write_text("create table a (id bigint);\n")
    semantic = read_migration(path)
    assert cosmetic.sha256 != before.sha256
    assert cosmetic.normalized_sha256 == before.normalized_sha256
    assert semantic.normalized_sha256 != before.normalized_sha256


def test_shipped_history_is_ordered_and_has_rollbacks() -> None:
    files = read_migration_dir(ROOT / "migrations")
    ids = [f.id for f in files]
    assert ids == sorted(ids)
    assert [int(i[:4]) for i in ids] == list(range(1, len(ids) + 1))
    assert all(f.has_rollback for f in files)
    non_transactional = {f.id for f in files if not f.transactional}
    assert non_transactional == {
        "0006_validation_backfill",
        "0008_access_indexes",
        "0012_archive_owner_indexes",
        "0013_retention_indexes",
        "0014_misconceptions_recent_index",
        "0018_retention_walk_indexes",
    }


def test_find_by_number_or_id() -> None:
    files = read_migration_dir(ROOT / "migrations")
    assert find(files, "0003").id == "0003_users_rls"
    assert find(files, "0003_users_rls").id == "0003_users_rls"
    with pytest.raises(ConfigError, match="unknown migration '9999'"):
        find(files, "9999")


def test_unknown_dependency_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("-- depends: 0000_nothing\nselect 1;\n")
    with pytest.raises(ConfigError, match="depends"):
        read_migration_dir(tmp_path)


def test_missing_directory_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="migrations directory not found"):
        read_migration_dir(tmp_path / "nope")


def test_new_migration_numbers_and_links(tmp_path: Path) -> None:
    first = new_migration(tmp_path, "first")
    second = new_migration(tmp_path, "add_index", transactional=False)
    assert [p.name for p in first] == ["0001_first.sql", "0001_first.rollback.sql"]
    assert [p.name for p in second] == ["0002_add_index.sql", "0002_add_index.rollback.sql"]
    made = read_migration(second[0])
    assert made.depends == ("0001_first",)
    assert made.transactional is False
    with pytest.raises(ConfigError, match="invalid migration name"):
        new_migration(tmp_path, "Bad Name")


def test_normalize_drops_comments_and_spacing() -> None:
    assert normalize_sql("select  1 -- x\n/* y */ ;") == "select 1 ;"


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("select 'a;b'; select 2;", 2),
        ("select $x$ ; $x$;", 1),
        ("select E'it\\'s;'; select 1;", 2),
        ('select 1 as "c;d";', 1),
        ("select 1 /* a /* nested; */ still; */ ;", 1),
        ("-- only; a comment\n", 0),
        ("select 1", 1),
    ],
)
def test_lexer_finds_only_real_semicolons(text: str, count: int) -> None:
    assert len(split_statements(text)) == count
