"""`make demo`'s point-in-time recovery: PITR on, a base backup, two writes, a restore between them.

Runs the same dbops commands a DBA would, on the configured server and backup directory,
and stops everything it started (the receiver, the restored copy) before it returns.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import psycopg

from ops.backup.pitr_restore import stop_restored
from ops.config import load_settings
from ops.db import resolve_url

ENV = dict(os.environ)


def dbops(*args: str) -> Any:
    out = subprocess.run(
        [sys.executable, "-m", "ops", "--json", *args], capture_output=True, text=True, env=ENV
    )
    if out.returncode != 0:
        raise SystemExit(f"dbops {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def wait(what: str, condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def learners(url: str, seed: int) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select count(*) from users where name like %s", (f"learner-{seed}-%",)).fetchone()
    return int(row[0]) if row else 0


def streaming() -> bool:
    status = subprocess.run(
        [sys.executable, "-m", "ops", "--json", "wal", "status"], capture_output=True, text=True, env=ENV
    )
    data = json.loads(status.stdout) if status.stdout.strip() else {}
    return data.get("receiver_state") == "streaming" and data.get("lag_bytes") == 0


def main() -> int:
    settings = load_settings({}, os.environ, Path.cwd())
    # the demo's WAL stays with the demo's server (DBOPS_HOME) unless a backup dir is configured
    ENV.setdefault("DBOPS_BACKUP_DIR", str(settings.dbops_home / "backups"))
    url = resolve_url(settings)
    enabled = dbops("wal", "enable")
    print(f"pitr: wal enable: slot {enabled['slot']!r}, {len(enabled['changes'])} setting(s) changed")
    log = settings.dbops_home / "wal-receive.log"
    with log.open("a") as out:
        receiver = subprocess.Popen(
            [sys.executable, "-m", "ops", "wal", "receive"],
            stdout=out,
            stderr=out,
            start_new_session=True,
            env=ENV,
        )
    scratch = Path(tempfile.mkdtemp(prefix="dbops-pitr-demo-"))
    scratch.chmod(0o711)
    target_dir = scratch / "restore"
    try:
        wait("the WAL receiver", streaming)
        backup = dbops("backup", "--physical")
        print(f"pitr: backup --physical: {backup['id']}")
        first, second = int(time.time()) % 100000 * 10 + 1, int(time.time()) % 100000 * 10 + 2
        dbops("sample-data", "--users", "3", "--seed", str(first))
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("select clock_timestamp()").fetchone()
            assert row is not None
            moment = row[0].astimezone(UTC).isoformat()
        dbops("sample-data", "--users", "3", "--seed", str(second))
        wait("the WAL receiver", streaming)
        restored = dbops(
            "restore", backup["id"], "--to-time", moment, "--target-dir", str(target_dir), "--start"
        )
        print(
            f"pitr: restore --to-time {moment}: {learners(restored['url'], first)} learner(s) of the write "
            f"before that second, {learners(restored['url'], second)} of the one after "
            f"(recovered to {restored['recovered_to']}, {restored['duration_s']:.1f} s)"
        )
    finally:
        stop_restored(target_dir)
        shutil.rmtree(scratch, ignore_errors=True)
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
