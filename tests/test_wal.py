"""dbops wal enable | status | receive on a PITR server of this module's own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.backup.pg_programs import program
from ops.backup.wal_files import list_wal, missing_segments
from tests.pitr import PitrServer, pitr_server, receiver_flushed, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[PitrServer]:
    yield from pitr_server("wal")


def test_status_before_enable_names_what_is_missing(server: PitrServer) -> None:
    result = server.dbops("wal", "status")
    assert result.exit_code == 1, result.output
    assert "summarize_wal (run `dbops wal enable`)" in result.output
    assert "no replication slot 'dbops'" in result.output
    assert "no WAL receiver is streaming" in result.output


def test_enable_elsewhere_prints_the_settings_and_changes_nothing(server: PitrServer) -> None:
    result = server.dbops("--database-url", server.url, "wal", "enable")
    assert result.exit_code == 2, result.output
    assert "ALTER SYSTEM SET summarize_wal = 'on';" in result.output
    assert "Error: 1 server setting(s) must change before PITR works" in result.output
    assert server.scalar("show summarize_wal") == "off"
    assert server.scalar("select count(*) from pg_replication_slots") == 0


def test_enable_on_the_embedded_server(server: PitrServer) -> None:
    dry = server.dbops("wal", "enable", "--synchronous", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing was changed" in dry.output
    assert server.scalar("show summarize_wal") == "off"

    result = server.dbops("wal", "enable", "--synchronous")
    assert result.exit_code == 0, result.output
    assert server.scalar("show summarize_wal") == "on"
    assert server.scalar("show synchronous_standby_names") == "dbops_wal"
    assert server.scalar("select slot_type from pg_replication_slots where slot_name = 'dbops'") == "physical"
    again = server.dbops("--json", "wal", "enable", "--synchronous")
    assert json.loads(again.output)["changes"] == []
    assert json.loads(again.output)["slot_created"] is False


def test_receive_one_at_a_time_and_kill_loses_no_wal(server: PitrServer) -> None:
    first = server.start_receiver()
    wait_for("the receiver to stream", lambda: receiver_flushed(server))
    status = server.dbops("--json", "wal", "status")
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["receiver_sync_state"] == "sync"

    second = server.start_receiver()
    second.wait(timeout=60)
    err = server.receiver_log(second)
    assert second.returncode == 5, err
    assert f"another `dbops wal receive` (pid {first.pid})" in err

    with server.connect() as conn:
        conn.execute("create table w (n int)")
        conn.execute("insert into w select generate_series(1, 20000)")
        conn.execute("select pg_switch_wal()")
    wait_for("the receiver to catch up", lambda: receiver_flushed(server))
    child = _receivewal_pid(first.pid)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    wait_for("pg_receivewal to die with its supervisor", lambda: not _alive(child))

    with server.connect() as conn:  # commits cannot wait for a receiver that is down
        conn.execute("set synchronous_commit = local")
        conn.execute("insert into w select generate_series(1, 50000)")
        conn.execute("select pg_switch_wal()")
        conn.execute("insert into w select generate_series(1, 1000)")
    server.start_receiver()
    wait_for("the restarted receiver to catch up", lambda: receiver_flushed(server))

    listing = list_wal(server.backups / "wal")
    assert missing_segments(listing, listing.segments[0]) == []
    waldump = subprocess.run(
        [
            program("pg_waldump"),
            "--quiet",
            "--path",
            str(server.backups / "wal"),
            listing.segments[0],
            listing.segments[-1],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert waldump.returncode == 0, waldump.stderr
    assert oct((server.backups / "wal").stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in (server.backups / "wal").iterdir())
    server.stop_receivers()


def _receivewal_pid(parent: int) -> int:
    out = subprocess.run(["pgrep", "-P", str(parent), "pg_receivewal"], capture_output=True, text=True).stdout
    return int(out.split()[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_wal_folder_belongs_to_one_cluster(tmp_path: Path) -> None:
    from ops.errors import ConfigError
    from ops.wal.receive import claim_folder

    claim_folder(tmp_path, "7714621090069171173")
    claim_folder(tmp_path, "7714621090069171173")
    with pytest.raises(ConfigError, match="holds the WAL of another cluster"):
        claim_folder(tmp_path, "1234")
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "000000010000000000000003.partial").write_bytes(b"")
    with pytest.raises(ConfigError, match="holds WAL of an unknown cluster"):
        claim_folder(stray, "1234")
