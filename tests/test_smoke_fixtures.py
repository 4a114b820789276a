from tests.conftest import Database


def test_migrated_clone_is_at_head(db: Database) -> None:
    assert db.scalar("select count(*) from _yoyo_migration") == 12


def test_empty_clone_has_no_tables(empty_db: Database) -> None:
    assert empty_db.scalar("select to_regclass('public.users')") is None
