"""Point-in-time recovery end to end, on a server of the test's own (it is killed with -9)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ops.backup.pitr_restore import stop_restored
from tests.pitr import PitrServer, pitr_server, receiver_flushed, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def server() -> Iterator[PitrServer]:
    yield from pitr_server("pitr")


@pytest.fixture
def restored(tmp_path: Path) -> Iterator[list[Path]]:
    """Target directories of restores; each server started there is stopped in teardown."""
    dirs: list[Path] = []
    yield dirs
    for d in dirs:
        stop_restored(d)


def _write(conn: psycopg.Connection[Any], n: int) -> str:
    """Commit write n; return a server time after its commit and before the next one starts."""
    conn.execute("insert into w (n) values (%s)", (n,))
    row = conn.execute("select clock_timestamp()").fetchone()
    assert row is not None
    return str(row[0].isoformat())


def _restore(server: PitrServer, restored: list[Path], backup: str, *target: str) -> dict[str, Any]:
    target_dir = server.home.parent / f"r{len(restored)}"
    restored.append(target_dir)
    result = server.dbops("--json", "restore", backup, *target, "--target-dir", str(target_dir), "--start")
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.output)
    return out


def _rows(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [r[0] for r in conn.execute("select n from w order by n").fetchall()]


def test_restore_to_a_second_and_latest_after_kill(server: PitrServer, restored: list[Path]) -> None:
    assert server.dbops("wal", "enable", "--synchronous").exit_code == 0
    receiver = server.start_receiver()
    wait_for("the receiver to stream", lambda: receiver_flushed(server))
    full = server.dbops("--json", "backup", "--physical")
    assert full.exit_code == 0, full.output
    full_id = json.loads(full.output)["id"]

    with server.connect() as conn:
        conn.execute("create table w (n int primary key, at timestamptz not null default clock_timestamp())")
        between = {n: _write(conn, n) for n in range(1, 5)}
    inc = server.dbops("--json", "backup", "--physical", "--incremental")
    assert inc.exit_code == 0, inc.output
    inc_id = json.loads(inc.output)["id"]
    assert json.loads(inc.output)["manifest"]["physical"]["parent"] == full_id
    with server.connect() as conn:
        between.update({n: _write(conn, n) for n in range(5, 9)})

    listing = server.dbops("backup", "list")
    assert "incremental" in listing.output and full_id in listing.output, listing.output

    early = _restore(server, restored, full_id, "--to-time", between[2])
    assert _rows(early["url"]) == [1, 2]
    late = _restore(server, restored, inc_id, "--to-time", between[6])
    assert _rows(late["url"]) == [1, 2, 3, 4, 5, 6]
    assert late["recovered_to"] <= between[6]

    # the application sees writes 9..20 committed; the 21st waits for the (stopped) receiver
    seen: list[int] = []
    with server.connect() as conn:
        for n in range(9, 21):
            _write(conn, n)
            seen.append(n)
    receivewal = int(
        subprocess.run(["pgrep", "-P", str(receiver.pid)], capture_output=True, text=True).stdout.split()[0]
    )
    os.kill(receivewal, signal.SIGSTOP)
    last = psycopg.connect(server.url, autocommit=True)
    pid = last.info.backend_pid
    writer = threading.Thread(target=_try_write, args=(last, 21, seen), daemon=True)
    writer.start()
    wait_for(
        "write 21 to commit or wait for the receiver",
        lambda: (
            21 in seen
            or server.scalar("select wait_event from pg_stat_activity where pid = %s", (pid,)) == "SyncRep"
        ),
    )
    _kill_server(server)
    writer.join(timeout=30)
    last.close()
    os.kill(receivewal, signal.SIGKILL)  # what it had not flushed (socket buffers included) is gone
    server.stop_receivers()

    latest = _restore(server, restored, inc_id, "--latest")
    present = _rows(latest["url"])
    assert set(seen) <= set(present), f"committed writes lost: {sorted(set(seen) - set(present))}"
    assert present[:20] == list(range(1, 21))


def _try_write(conn: psycopg.Connection[Any], n: int, seen: list[int]) -> None:
    try:
        conn.execute("insert into w (n) values (%s)", (n,))
        seen.append(n)
    except psycopg.Error:
        pass


def _kill_server(server: PitrServer) -> None:
    """kill -9 of the postmaster and every process of the server."""
    pidfile = server.home / "pgdata" / "postmaster.pid"
    postmaster = int(pidfile.read_text().splitlines()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
    os.kill(postmaster, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGKILL)
