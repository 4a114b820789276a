"""Backup verification's second line: what checksums alone cannot see.

A dump swapped for another one together with its manifest's checksums is consistent file by
file, so only the comparisons with the rest of the manifest can tell: the table-of-contents
count (`backup verify`), the row counts and the checks on a restored copy (`--restore`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from ops.backup import BackupRequest, run_backup
from ops.backup.manifest import checksum_files, read_manifest, write_manifest
from tests.conftest import Database
from tests.test_backup import add_rows


def _backup(db: Database, where: Path) -> Path:
    return Path(run_backup(db.url, BackupRequest(where)).path)


def _swap_dump(backup: Path, other: Path) -> None:
    """Put `other`'s dump into `backup` and make the manifest's checksums and sizes match it."""
    manifest = read_manifest(backup)
    shutil.copyfile(other / manifest.dump_path, backup / manifest.dump_path)
    write_manifest(backup, replace(manifest, files=checksum_files(backup)))


def _verify(run_cli: Any, db: Database, backup: Path, *flags: str) -> Any:
    return run_cli("--json", "backup", "verify", backup.name, *flags, "--dir", str(backup.parent), url=db.url)


def test_a_dump_with_fewer_rows_and_matching_checksums_fails_the_restore(
    db: Database, tmp_path: Path, run_cli: Any
) -> None:
    add_rows(db)
    backup = _backup(db, tmp_path / "a")
    db.conn.execute("delete from quizzes where ctid in (select ctid from quizzes limit 3)")
    _swap_dump(backup, _backup(db, tmp_path / "b"))
    checksums_only = _verify(run_cli, db, backup)
    assert checksums_only.exit_code == 0, checksums_only.output  # the files agree with the manifest
    result = _verify(run_cli, db, backup, "--restore")
    assert result.exit_code == 7, result.output
    assert json.loads(result.stdout)["problems"] == ["public.quizzes: 27 rows restored, 30 in the manifest"]
    assert not read_manifest(backup).verified


def test_a_dump_missing_a_toc_entry_with_matching_checksums_is_corruption(
    db: Database, tmp_path: Path, run_cli: Any
) -> None:
    db.conn.execute("comment on table quizzes is 'one more entry in the table of contents'")
    backup = _backup(db, tmp_path / "a")
    db.conn.execute("comment on table quizzes is null")
    _swap_dump(backup, _backup(db, tmp_path / "b"))
    want = read_manifest(backup).toc_entries
    result = _verify(run_cli, db, backup)
    assert result.exit_code == 7, result.output
    problems = json.loads(result.stdout)["problems"]
    assert problems == [f"dump.pgdump: {want - 1} TOC entries, {want} in the manifest"]


def test_a_restored_copy_that_fails_a_check_exits_1(db: Database, tmp_path: Path, run_cli: Any) -> None:
    add_rows(db)
    db.conn.execute("insert into quizzes (user_id, topic_id, questions) values ('no-such-user', 't', '[]')")
    backup = _backup(db, tmp_path / "a")
    result = _verify(run_cli, db, backup, "--restore")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["ok"] and data["problems"] == []  # the backup is faithful; its data fails a check
    assert data["checks_exit_code"] == 1
    assert "corruption: no (" in data["checks"] and "orphan_quizzes_user" in data["checks"]
    text = run_cli("backup", "verify", backup.name, "--restore", "--dir", str(backup.parent), url=db.url)
    assert text.exit_code == 1
    assert f"Error: the restored copy of {backup.name} fails its checks: " in text.output
    assert "Hint: run `dbops check` on the source database" in text.output


def test_a_clean_restored_copy_exits_0(db: Database, tmp_path: Path, run_cli: Any) -> None:
    add_rows(db)
    result = _verify(run_cli, db, _backup(db, tmp_path / "a"), "--restore")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["checks"] == "passed"
