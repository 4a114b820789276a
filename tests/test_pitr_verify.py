"""backup verify of physical chains (tampering, missing WAL), --restore, and kill -9 of a backup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ops.backup.wal_files import list_wal, parse_lsn, segment_name, segment_number
from tests.pitr import PitrServer, pitr_server, receiver_flushed, wait_for
from tests.server import ROOT
from tests.terminal import run_on_terminal

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[PitrServer, str, str]]:
    """A full backup and an incremental to it, with WAL after both."""
    servers = pitr_server("chain")
    server = next(servers)
    try:
        assert server.dbops("wal", "enable").exit_code == 0
        server.start_receiver()
        wait_for("the receiver to stream", lambda: receiver_flushed(server))
        full = json.loads(server.dbops("--json", "backup", "--physical").output)["id"]
        with server.connect() as conn:
            conn.execute("create table t as select g as n from generate_series(1, 50000) g")
        inc = json.loads(server.dbops("--json", "backup", "--physical", "--incremental").output)["id"]
        with server.connect() as conn:
            for _ in range(3):
                conn.execute("insert into t select generate_series(1, 1000)")
                conn.execute("select pg_switch_wal()")
        wait_for("the receiver to catch up", lambda: receiver_flushed(server))
        yield server, full, inc
    finally:
        servers.close()


def test_a_sound_chain_verifies(chain: tuple[PitrServer, str, str]) -> None:
    server, _, inc = chain
    result = server.dbops("backup", "verify", inc)
    assert result.exit_code == 0, result.output
    assert "2 chain link(s) pass pg_verifybackup and join" in result.output


def test_a_changed_file_of_the_parent_is_named(chain: tuple[PitrServer, str, str]) -> None:
    server, full, inc = chain
    victim = next(
        p for p in sorted((server.backups / full / "base" / "global").iterdir()) if p.stat().st_size > 100
    )
    original = victim.read_bytes()
    victim.write_bytes(original[:50] + bytes([original[50] ^ 0xFF]) + original[51:])
    try:
        result = server.dbops("backup", "verify", inc)
    finally:
        victim.write_bytes(original)
    assert result.exit_code == 7, result.output
    assert f'{full}: checksum mismatch for file "global/{victim.name}"' in result.output


def test_a_missing_wal_segment_is_named(chain: tuple[PitrServer, str, str]) -> None:
    server, _, inc = chain
    manifest = json.loads((server.backups / inc / "manifest.json").read_text())["physical"]
    listing = list_wal(server.backups / "wal")
    end = segment_number(segment_name(manifest["timeline"], parse_lsn(manifest["end_lsn"])))
    needed = next(n for n in listing.segments if segment_number(n) > end)
    path = server.backups / "wal" / needed
    saved = path.read_bytes()
    path.unlink()
    try:
        result = server.dbops("backup", "verify", inc)
    finally:
        path.write_bytes(saved)
        path.chmod(0o600)
    assert result.exit_code == 7, result.output
    assert f"wal/{needed}: missing (needed to replay past {inc})" in result.output


def test_verify_by_restore_runs_the_checks_on_the_copy_and_leaves_nothing(
    chain: tuple[PitrServer, str, str],
) -> None:
    """The module's database is no Exammentor database: the checks on the copy find that (exit 1)."""
    server, _, inc = chain
    result = server.dbops("--json", "backup", "verify", inc, "--restore")
    assert result.exit_code == 1, result.output
    out = json.loads(result.output.splitlines()[0])
    assert out["ok"] is True and out["checks_exit_code"] == 1
    assert "restored to" in out["checks"] and "migration_pending" in out["checks"]
    assert f"Error: the restored copy of {inc} fails its checks" in result.output
    assert not list(Path("/tmp").glob("dbops-verify-*"))


def test_kill_during_backup_leaves_no_backup(chain: tuple[PitrServer, str, str]) -> None:
    server, full, inc = chain
    env = {k: v for k, v in os.environ.items() if k not in server.env}
    env.update({k: v for k, v in server.env.items() if v is not None})
    env["DBOPS_FAILPOINTS"] = "backup_physical_before_publish"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ops", "backup", "--physical"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    assert proc.stderr.readline().strip() == "failpoint: backup_physical_before_publish"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    listing = json.loads(server.dbops("--json", "backup", "list").output)
    assert [b["id"] for b in listing["backups"]] == [full, inc]
    assert len(listing["in_progress"]) == 1
    assert "in progress (or left by a killed run)" in server.dbops("backup", "list").output


def test_verify_by_restore_shows_its_steps_on_a_terminal_only(chain: tuple[PitrServer, str, str]) -> None:
    server, _, inc = chain
    env = {k: v for k, v in server.env.items() if v is not None}
    verify = ("backup", "verify", inc, "--restore")
    on_terminal = run_on_terminal(*verify, env=env, stdout_tty=False, stderr_tty=True)
    piped = run_on_terminal(*verify, env=env, stdout_tty=False, stderr_tty=False)
    assert on_terminal.exit_code == piped.exit_code == 1  # the copy's checks find the test's table
    steps = (
        f"pg_verifybackup {inc}", "laying down 2 backup(s)", "recovering to ", "running the checks on the",
    )  # fmt: skip
    assert [s for s in steps if s not in on_terminal.stderr] == []
    assert [s for s in steps if s in piped.stderr] == []
    assert piped.stderr.startswith(f"Error: the restored copy of {inc} fails its checks"), piped.stderr


def test_restore_refusals_change_nothing(chain: tuple[PitrServer, str, str]) -> None:
    server, full, inc = chain
    busy = server.home.parent / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    cases = {
        ("restore", inc, "--latest", "--target-dir", str(busy)): "is not empty; a restore never writes over",
        (
            "restore",
            inc,
            "--to-time",
            "2000-01-01T00:00:00Z",
            "--target-dir",
            str(busy / "x"),
        ): "is before backup",
        ("restore", inc, "--target-dir", str(busy / "y")): "a physical restore needs exactly one target",
        ("restore", inc, "--latest"): "pass --target-dir DIR",
        ("backup", "--incremental"): "--incremental needs --physical",
    }
    for args, message in cases.items():
        result = server.dbops(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Error: " in result.output, result.output
    assert sorted(p.name for p in busy.iterdir()) == ["keep.txt"]
    dry = server.dbops("restore", inc, "--latest", "--target-dir", str(busy / "new"), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"dry run: would combine {full} + {inc} into {busy / 'new' / 'data'}" in dry.output
    assert not (busy / "new").exists()


def test_prune_keeps_the_window_and_its_wal(chain: tuple[PitrServer, str, str]) -> None:
    """Last in the module: it deletes the first chain."""
    server, full, inc = chain
    second = json.loads(server.dbops("--json", "backup", "--physical").output)
    start_wal = second["manifest"]["physical"]["start_wal"]
    consistent = datetime.fromisoformat(second["manifest"]["physical"]["earliest_restorable"])
    wait_for("a second to pass", lambda: datetime.now(UTC) - consistent > timedelta(seconds=1.5))
    before = sorted(p.name for p in (server.backups / "wal").iterdir())

    dry = server.dbops("backup", "prune", "--keep-window", "1s", "--keep-min", "1", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"would delete {full} + {inc}" in dry.output
    assert f"keep    {second['id']} (newest 1, restores the window's start, newest verified)" in dry.output
    assert sorted(p.name for p in (server.backups / "wal").iterdir()) == before
    assert (server.backups / full).is_dir()

    done = server.dbops("--json", "backup", "prune", "--keep-window", "1s", "--keep-min", "1")
    assert done.exit_code == 0, done.output
    assert not (server.backups / full).exists() and not (server.backups / inc).exists()
    left = list_wal(server.backups / "wal")
    assert left.segments[0] == start_wal
    assert json.loads(done.output)["wal_removed"] == [n for n in before if n < start_wal and len(n) == 24]
    assert server.dbops("backup", "verify", second["id"]).exit_code == 0
