"""All or nothing, checked before anything runs: transaction control in a transactional
migration and migration files with names dbops cannot order are refused up front."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Database
from tests.server import HEAD


def _write(project: Path, name: str, sql: str, rollback: str = "select 1;\n", depends: str = HEAD) -> None:
    (project / "migrations" / f"{name}.sql").write_text(f"-- depends: {depends}\n{sql}")
    (project / "migrations" / f"{name}.rollback.sql").write_text(rollback)


def _exists(db: Database, table: str) -> bool:
    return bool(db.scalar("select to_regclass(%s) is not null", (table,)))


@pytest.mark.parametrize(
    "control",
    [
        "commit;",
        "COMMIT AND CHAIN;",
        "begin;",
        "start transaction;",
        "rollback;",
        "end;",
        "savepoint s1;",
        "release savepoint s1;",
        "abort;",
    ],
)
def test_transaction_control_is_refused_before_any_statement_runs(
    run_cli, project: Path, db: Database, control: str
) -> None:
    # a good migration first: the whole plan is checked before the first one runs
    _write(project, "9001_fine", "create table fine_marker (id int);\n", "drop table fine_marker;\n")
    _write(
        project,
        "9002_half",
        f"create table before_control (id int);\n{control}\ncreate table after_control (id int);\n",
        depends="9001_fine",
    )
    result = run_cli("--migrations-dir", str(project / "migrations"), "migrate", url=db.url)
    assert result.exit_code == 2, result.output
    assert "Error: migrations/9002_half.sql:3:" in result.stderr or "9002_half.sql:3:" in result.stderr
    assert "Traceback" not in result.output
    assert not _exists(db, "fine_marker")
    assert not _exists(db, "before_control")
    assert not _exists(db, "after_control")
    assert db.scalar("select count(*) from _yoyo_migration where migration_id like '900%%'") == 0


def test_transaction_control_in_a_rollback_file_is_refused_too(run_cli, project: Path, db: Database) -> None:
    _write(project, "9001_fine", "create table fine_marker (id int);\n", "drop table fine_marker;\ncommit;\n")
    result = run_cli("--migrations-dir", str(project / "migrations"), "migrate", url=db.url)
    assert result.exit_code == 2, result.output
    assert "9001_fine.rollback.sql:2" in result.stderr
    assert not _exists(db, "fine_marker")


def test_commit_inside_a_body_or_a_string_is_not_transaction_control(
    run_cli, project: Path, db: Database
) -> None:
    _write(
        project,
        "9001_fine",
        "create table fine_marker (note text);\n"
        "insert into fine_marker values ('commit;');\n"
        "create function fine_noop() returns void language plpgsql as $$ begin perform 1; end $$;\n",
        "drop function fine_noop();\ndrop table fine_marker;\n",
    )
    result = run_cli("--migrations-dir", str(project / "migrations"), "migrate", url=db.url)
    assert result.exit_code == 0, result.output
    assert _exists(db, "fine_marker")


def test_a_non_transactional_migration_may_commit(run_cli, project: Path, db: Database) -> None:
    _write(project, "9001_loose", "-- transactional: false\ncreate table loose_marker (id int);\ncommit;\n",
           "drop table if exists loose_marker;\n")  # fmt: skip
    result = run_cli("--migrations-dir", str(project / "migrations"), "migrate", url=db.url)
    assert result.exit_code == 0, result.output
    assert _exists(db, "loose_marker")


@pytest.mark.parametrize("name", ["9001 add thing.sql", "9001_Add-Thing.sql", "add_thing.sql"])
@pytest.mark.parametrize("verb", ["migrate", "status"])
def test_a_file_name_dbops_cannot_order_is_refused(
    run_cli, project: Path, db: Database, name: str, verb: str
) -> None:
    (project / "migrations" / name).write_text(f"-- depends: {HEAD}\ncreate table oddly_named (id int);\n")
    (project / "migrations" / name.replace(".sql", ".rollback.sql")).write_text("drop table oddly_named;\n")
    result = run_cli("--json", "--migrations-dir", str(project / "migrations"), verb, url=db.url)
    assert result.exit_code == 2, result.output
    assert name in result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["exit_code"] == 2
    assert not _exists(db, "oddly_named")
