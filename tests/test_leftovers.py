"""Nothing half-written kept, nothing left behind: a full disk (a real, small tmpfs filled at a
failpoint), kill -9 and SIGTERM of backup runs, and the scratch databases of killed verifies."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from ops.locks import NAMESPACE, JobFamily
from tests.conftest import Database
from tests.processes import HANG_GUARD_S, Dbops
from tests.server import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs: a disk that really fills (needs root, as the embedded test server does)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(disk)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def _fill(disk: Path) -> None:
    """Write until the disk says ENOSPC: big pieces, then single bytes for the last page."""
    with open(disk / "filler", "ab", buffering=0) as fh:
        for piece in (b"\0" * 65536, b"\0"):
            try:
                while True:
                    fh.write(piece)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


def _left(disk: Path) -> list[str]:
    return sorted(p.name for p in disk.iterdir() if p.name != "filler")


def _stop_fill_finish(run: Dbops, point: str, disk: Path) -> tuple[int, str, str]:
    assert run.stopped_at() == point
    _fill(disk)
    run.resume()
    return run.finish()


def test_manifest_on_a_full_disk_exits_4_and_keeps_nothing(db: Database, small_disk: Path) -> None:
    run = Dbops.start(db.url, "backup", "--dir", str(small_disk), failpoints="backup.manifest.write")
    code, out, err = _stop_fill_finish(run, "backup.manifest.write", small_disk)
    assert code == 4, out + err
    assert err.count("Error: ") == 1 and "No space left on device" in err and "Traceback" not in err
    assert _left(small_disk) == []


def test_owner_file_on_a_full_disk_leaves_no_empty_partial(db: Database, small_disk: Path) -> None:
    run = Dbops.start(db.url, "backup", "--dir", str(small_disk), failpoints="backup.partial.created")
    code, out, err = _stop_fill_finish(run, "backup.partial.created", small_disk)
    assert code == 4, out + err
    assert err.count("Error: ") == 1 and "Traceback" not in err
    assert _left(small_disk) == []


def test_metrics_file_on_a_full_disk_keeps_the_runs_exit_code(db: Database, small_disk: Path) -> None:
    metrics = small_disk / "retention.prom"
    run = Dbops.start(db.url, "retention", "run", "--metrics-file", str(metrics),
                      failpoints="retention.metrics.write")  # fmt: skip
    code, out, err = _stop_fill_finish(run, "retention.metrics.write", small_disk)
    assert code == 0, out + err
    assert "Warning: metrics file" in err and "No space left on device" in err and "Traceback" not in err
    assert _left(small_disk) == []  # no temporary file left either


def test_metrics_failure_does_not_mask_busy(db: Database, small_disk: Path) -> None:
    _fill(small_disk)
    db.conn.execute("select pg_advisory_lock(%s, %s)", (NAMESPACE, int(JobFamily.RETENTION)))
    try:
        code, out, err = Dbops.start(db.url, "retention", "run", "--metrics-file",
                                     str(small_disk / "retention.prom")).finish()  # fmt: skip
    finally:
        db.conn.execute("select pg_advisory_unlock_all()")
    assert code == 5, out + err
    assert "Warning: metrics file" in err and "Traceback" not in err


def _partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


def test_prune_removes_partial_folders_of_ended_runs_only(db: Database, tmp_path: Path) -> None:
    killed = Dbops.start(db.url, "backup", "--dir", str(tmp_path), failpoints="backup.manifest.write")
    assert killed.stopped_at() == "backup.manifest.write"
    killed.kill()
    unowned = tmp_path / ".2000-01-01T000000Z-x.partial"  # died before writing its owner file
    unowned.mkdir()
    os.utime(unowned, (1e9, 1e9))
    assert len(_partials(tmp_path)) == 2
    alive = Dbops.start(db.url, "backup", "--dir", str(tmp_path), failpoints="backup.manifest.write")
    try:
        assert alive.stopped_at() == "backup.manifest.write"
        assert len(_partials(tmp_path)) == 1  # the new run reclaimed both
        ours = _partials(tmp_path)
        code, out, err = Dbops.start(db.url, "--json", "backup", "prune", "--dir", str(tmp_path),
                                     "--keep-last", "1").finish()  # fmt: skip
        assert code == 0, out + err
        assert _partials(tmp_path) == ours  # a live run's folder is left alone
    finally:
        alive.kill()
    code, out, err = Dbops.start(db.url, "--json", "backup", "prune", "--dir", str(tmp_path),
                                 "--keep-last", "1").finish()  # fmt: skip
    assert code == 0, out + err
    assert json.loads(out)["reclaimed"] == ours
    assert _partials(tmp_path) == []


def test_sigterm_of_backup_removes_its_partial_folder(db: Database, tmp_path: Path) -> None:
    run = Dbops.start(db.url, "backup", "--dir", str(tmp_path), failpoints="backup.manifest.write")
    assert run.stopped_at() == "backup.manifest.write"
    os.kill(run.proc.pid, signal.SIGTERM)
    run.resume()
    code, out, err = run.finish()
    assert code == 4, out + err  # as Ctrl-C: the run was interrupted, nothing of it kept
    assert err.count("Error: ") == 1 and "Error: terminated (SIGTERM)" in err and "Traceback" not in err
    assert _partials(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_sigterm_of_retention_writes_the_exit_code_it_ends_with(db: Database, tmp_path: Path) -> None:
    metrics = tmp_path / "retention.prom"
    run = Dbops.start(db.url, "retention", "run", "--metrics-file", str(metrics),
                      failpoints="retention.batch.start")  # fmt: skip
    assert run.stopped_at() == "retention.batch.start"
    os.kill(run.proc.pid, signal.SIGTERM)
    run.resume()
    code, out, err = run.finish()
    assert code == 4 and "Error: terminated (SIGTERM)" in err, out + err
    assert "dbops_retention_last_run_exit_code 4.0\n" in metrics.read_text()


def _scratch(db: Database, prefix: str) -> list[str]:
    rows = db.conn.execute("select datname from pg_database where datname like %s", (prefix + "%",))
    return sorted(r[0] for r in rows.fetchall())


def test_a_killed_verify_restores_scratch_database_is_dropped_by_the_next(
    db: Database, tmp_path: Path
) -> None:
    code, out, err = Dbops.start(db.url, "--json", "backup", "--dir", str(tmp_path)).finish()
    assert code == 0, out + err
    bid = json.loads(out)["id"]
    before = _scratch(db, "dbops_backup_verify_")
    killed = Dbops.start(db.url, "backup", "verify", bid, "--restore", "--dir", str(tmp_path),
                         failpoints="scratch.created")  # fmt: skip
    assert killed.stopped_at() == "scratch.created"
    killed.kill()
    leftover = sorted(set(_scratch(db, "dbops_backup_verify_")) - set(before))
    assert len(leftover) == 1
    code, out, err = Dbops.start(
        db.url, "backup", "verify", bid, "--restore", "--dir", str(tmp_path)
    ).finish()
    assert code == 0, out + err
    assert f"dropped scratch database {leftover[0]}" in err
    assert _scratch(db, "dbops_backup_verify_") == before


def _descendants(pid: int) -> list[int]:
    children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [d for c in children for d in (c, *_descendants(c))]


def _named(pids: list[int], name: str) -> list[int]:
    return [p for p in pids if Path(f"/proc/{p}/exe").resolve().name == name]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _waits_for_held(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pg_locks where relation = 'public.held'::regclass and not granted"
        ).fetchone()
    return bool(row and row[0])


def test_kill_9_of_a_backup_takes_its_pg_dump_along(db: Database, tmp_path: Path) -> None:
    """pg_dump blocked behind a lock (so it is surely still running) when dbops is killed: it
    must not go on holding its snapshot and ACCESS SHARE locks with no one to read its end."""
    db.conn.execute("create table public.held (id int)")  # a table only pg_dump reads
    db.conn.autocommit = False
    db.conn.execute("lock table public.held in access exclusive mode")  # pg_dump waits on it
    try:
        # --compress gzip:1: no compression sample, which would wait for the lock too
        run = Dbops.start(db.url, "backup", "--dir", str(tmp_path), "--compress", "gzip:1",
                          failpoints="backup.dump.running")  # fmt: skip
        assert run.stopped_at() == "backup.dump.running"
        (pg_dump,) = _named(_descendants(run.proc.pid), "pg_dump")
        _wait_for(lambda: _waits_for_held(db.url), "pg_dump waiting for the held table")
        run.kill()
        _wait_for(lambda: not _alive(pg_dump), "pg_dump to die with the dbops process that started it")
    finally:
        db.conn.rollback()
        db.conn.autocommit = True


def test_a_programs_own_children_die_with_dbops_too(tmp_path: Path) -> None:
    """pg_dump's parallel workers and pg_basebackup's WAL streamer are children of the program,
    not of dbops: a process that starts a program forking a child of its own is killed -9, and
    the grandchild must go too (its replication slot would otherwise hold WAL for ever)."""
    script = (
        "import os, signal, sys\n"
        "from ops.backup.pg_programs import start_in_group\n"
        "start_in_group(['/bin/sh', '-c', 'sleep 300 & wait'])\n"
        "print('started', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGSTOP)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert parent.stdout is not None and parent.stdout.readline() == "started\n"
        _wait_for(lambda: bool(_named(_descendants(parent.pid), "sleep")), "the grandchild to start")
        (sleeper,) = _named(_descendants(parent.pid), "sleep")
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    _wait_for(lambda: not _alive(sleeper), "the program's own child to die with the process that started it")
