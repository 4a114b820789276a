"""A history written for yoyo works unchanged: dotted ids, a number used twice, migrations
without rollback files (apply-only), and Python migrations refused by name."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from ops import migrations
from ops.config import Settings
from ops.errors import ConfigError
from tests.conftest import Database
from tests.server import ROOT

HISTORY = ROOT / "tests" / "fixtures" / "yoyo_history"
ORDER = ["0001.initial-schema", "0002.add-notes", "0002.add-tags", "0003.index-notes"]


@pytest.fixture
def yoyo(tmp_path: Path) -> Path:
    shutil.copytree(HISTORY / "migrations", tmp_path / "migrations")
    (tmp_path / "pyproject.toml").write_text("[tool.dbops]\n", encoding="utf-8")
    return tmp_path


def _settings(db: Database, project: Path) -> Settings:
    return db.settings(migrations_dir=str(project / "migrations"), policies_dir=str(project / "policies"))


def _applied(db: Database) -> list[str]:
    rows = db.conn.execute("select migration_id from _yoyo_migration order by applied_at_utc, migration_id")
    return [r[0] for r in rows.fetchall()]


def test_migrate_status_verify_on_a_yoyo_history(empty_db: Database, yoyo: Path) -> None:
    settings = _settings(empty_db, yoyo)
    report = migrations.migrate(empty_db.conn, settings)
    assert [s.id for s in report.steps] == ORDER
    assert sorted(_applied(empty_db)) == ORDER
    status = migrations.status(empty_db.conn, settings)
    assert [(m.id, m.state) for m in status.migrations] == [(mid, "applied") for mid in ORDER]
    checked = migrations.verify(empty_db.url, settings)
    assert checked.ok, checked
    assert [(s.id, s.apply_only) for s in checked.steps] == [
        ("0001.initial-schema", False),
        ("0002.add-notes", True),
        ("0002.add-tags", False),
        ("0003.index-notes", False),
    ]


def test_to_takes_a_full_id_or_an_unambiguous_prefix(empty_db: Database, yoyo: Path) -> None:
    settings = _settings(empty_db, yoyo)
    with pytest.raises(ConfigError, match=r"migration '0002' is ambiguous: 0002.add-notes, 0002.add-tags"):
        migrations.migrate(empty_db.conn, settings, to="0002")
    assert empty_db.scalar("select to_regclass('_yoyo_migration')") is None  # refused before anything ran
    first = migrations.migrate(empty_db.conn, settings, to="0001")
    assert [s.id for s in first.steps] == ["0001.initial-schema"]
    assert "--to 0001: 0001.initial-schema" in first.notes
    full = migrations.migrate(empty_db.conn, settings, to="0002.add-notes")
    assert [s.id for s in full.steps] == ["0002.add-notes"] and full.notes == ()
    with pytest.raises(ConfigError, match="unknown migration '0009'"):
        migrations.migrate(empty_db.conn, settings, to="0009")
    migrations.migrate(empty_db.conn, settings)
    back = migrations.rollback(empty_db.conn, settings, to="0002.add-t")
    assert [s.id for s in back.steps] == ["0003.index-notes"]
    assert "--to 0002.add-t: 0002.add-tags" in back.notes


def test_rollback_refuses_naming_the_first_apply_only_migration(empty_db: Database, yoyo: Path) -> None:
    settings = _settings(empty_db, yoyo)
    migrations.migrate(empty_db.conn, settings)
    with pytest.raises(ConfigError, match=r"cannot roll back 0002.add-notes: it has no rollback file") as exc:
        migrations.rollback(empty_db.conn, settings, everything=True)
    assert exc.value.hint == (
        "write 0002.add-notes.rollback.sql, or roll back only the migrations after it "
        "(`dbops rollback --to 0002.add-notes`)"
    )
    assert sorted(_applied(empty_db)) == ORDER  # nothing was rolled back, not even 0003
    back = migrations.rollback(empty_db.conn, settings, to="0002.add-notes")
    assert [s.id for s in back.steps] == ["0003.index-notes", "0002.add-tags"]
    assert sorted(_applied(empty_db)) == ["0001.initial-schema", "0002.add-notes"]


def test_rollback_refusal_on_the_command_line(empty_db: Database, yoyo: Path, run_cli: Any) -> None:
    args = ["--migrations-dir", str(yoyo / "migrations"), "--policies-dir", str(yoyo / "policies")]
    assert run_cli(*args, "migrate", url=empty_db.url).exit_code == 0
    result = run_cli(*args, "rollback", "--all", "--yes", url=empty_db.url)
    assert result.exit_code == 2
    assert "Error: cannot roll back 0002.add-notes: it has no rollback file" in result.output
    assert "Traceback" not in result.output


def test_python_migrations_are_refused_by_name(empty_db: Database, yoyo: Path) -> None:
    (yoyo / "migrations" / "0004.backfill.py").write_text("steps = []\n", encoding="utf-8")
    settings = _settings(empty_db, yoyo)
    for verb in (migrations.migrate, migrations.status):
        with pytest.raises(
            ConfigError, match=r"Python migrations are not supported: 0004.backfill.py"
        ) as exc:
            verb(empty_db.conn, settings)
        assert "rewrite each as NAME.sql" in (exc.value.hint or "")
    assert empty_db.scalar("select to_regclass('_yoyo_migration')") is None
