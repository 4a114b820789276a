"""PITR benchmark, on an embedded server of its own (it is killed with -9), in a temp folder.

The database: the shipped schema and BENCH_PITR_USERS (default 3000) users of sample data.
Each ratio is dbops' time over the raw tools' time, on the same data in the same run:

- physical_backup_vs_pg_basebackup: `dbops backup --physical` / `pg_basebackup` with the
  same options (plain, -X stream, fast checkpoint), best of BENCH_PITR_ROUNDS (default 2)
- incremental_size_vs_full: data of `--incremental` after updating 1% of the rows of every
  table / data of the full backup (pg_basebackup's manifests)
- restore_to_time_vs_manual: `dbops restore --to-time T --target-dir D --start` (combine,
  stage WAL, recover, promote) / the same by hand: pg_combinebackup, copy the WAL,
  recovery settings, pg_ctl start, wait for the promotion
- rpo_seconds_synchronous: committed work lost after kill -9 of the server (writers
  committing the whole time), measured as the time between the last commit the
  application saw and the last one restored (0.00 means nothing was lost)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.common import ROOT, report
from ops import embedded
from ops.backup.pg_programs import hand_over, let_server_reach, program, run_as_server
from ops.backup.physical import basebackup_command
from ops.backup.pitr_restore import stop_restored


class Bench:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.home = base / "home"
        self.home.mkdir()
        self.backups = base / "backups"
        self.url = embedded.ensure_running(self.home)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DBOPS_", "PG", "DATABASE_URL"))}
        self.env.update({"DBOPS_HOME": str(self.home), "DBOPS_BACKUP_DIR": str(self.backups)})
        self.receiver: subprocess.Popen[bytes] | None = None
        self.restored: list[Path] = []

    def dbops(self, *args: str) -> Any:
        out = subprocess.run(
            [sys.executable, "-m", "ops", "--json", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise SystemExit(f"dbops {' '.join(args)} failed: {out.stderr.strip()}")
        return json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else None

    def start_receiver(self) -> None:
        self.receiver = subprocess.Popen(
            [sys.executable, "-m", "ops", "wal", "receive", "--lag-interval", "3600"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.wait("the receiver to stream", self.caught_up)

    def caught_up(self) -> bool:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(
                "select flush_lsn >= pg_current_wal_lsn() from pg_stat_replication"
                " where application_name = 'dbops_wal'"
            ).fetchone()
        return bool(row and row[0])

    @staticmethod
    def wait(what: str, condition: Any, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            time.sleep(0.05)

    def close(self) -> None:
        for d in self.restored:
            stop_restored(d)
        if self.receiver and self.receiver.poll() is None:
            self.receiver.send_signal(signal.SIGTERM)
            self.receiver.wait(timeout=30)
        try:
            embedded.stop(self.home)
        except subprocess.CalledProcessError:
            pid = embedded.status(self.home).pid
            if pid:
                os.kill(pid, signal.SIGQUIT)


def main() -> None:
    users = os.environ.get("BENCH_PITR_USERS", "3000")
    rounds = int(os.environ.get("BENCH_PITR_ROUNDS", "2"))
    base = Path(tempfile.mkdtemp(prefix="dbops-bench-pitr-"))
    base.chmod(0o711)
    bench = Bench(base)
    try:
        bench.dbops("migrate")
        bench.dbops("sample-data", "--users", users, "--seed", "7")
        bench.dbops("wal", "enable", "--synchronous")
        bench.start_receiver()
        full_id = _full_backups(bench, rounds)
        _incremental(bench, full_id)
        _restore_to_time(bench)
        _rpo(bench)
    finally:
        bench.close()
        shutil.rmtree(base, ignore_errors=True)


def _full_backups(bench: Bench, rounds: int) -> str:
    ours, raw, full_id = [], [], ""
    for n in range(rounds):
        started = time.perf_counter()
        full_id = bench.dbops("backup", "--physical")["id"]
        ours.append(time.perf_counter() - started)
        target = bench.base / f"raw{n}"
        started = time.perf_counter()
        subprocess.run(basebackup_command(bench.url, target, None), check=True, capture_output=True)
        raw.append(time.perf_counter() - started)
        shutil.rmtree(target)
    report(
        "physical_backup_vs_pg_basebackup",
        min(ours) / min(raw),
        f"dbops {min(ours):.2f} s, pg_basebackup {min(raw):.2f} s; dbops adds pg_verifybackup, its manifest",
    )
    return full_id


def _incremental(bench: Bench, full_id: str) -> None:
    with psycopg.connect(bench.url, autocommit=True) as conn:
        tables = conn.execute(
            "select table_name from information_schema.columns"
            " where table_schema = 'public' and column_name = 'id' and table_name not like '\\_%'"
        ).fetchall()
        for (table,) in tables:
            # 1% of the rows of each table, spread over its pages: a no-op update writes each row anew
            conn.execute(
                sql.SQL("update {} t set id = t.id where random() < 0.01").format(
                    sql.Identifier("public", table)
                )
            )
    inc = bench.dbops("backup", "--physical", "--incremental")
    full = json.loads((bench.backups / full_id / "manifest.json").read_text())
    ratio = inc["manifest"]["physical"]["data_bytes"] / full["physical"]["data_bytes"]
    report(
        "incremental_size_vs_full",
        ratio,
        f"{inc['manifest']['physical']['data_bytes'] / 1e6:.1f} MB"
        f" of {full['physical']['data_bytes'] / 1e6:.1f} MB",
    )


def _restore_to_time(bench: Bench) -> None:
    with psycopg.connect(bench.url, autocommit=True) as conn:
        conn.execute("create table marks (n int, at timestamptz default clock_timestamp())")
        conn.execute("insert into marks (n) values (1)")
        target = conn.execute("select clock_timestamp()").fetchone()[0].astimezone(UTC).isoformat()  # type: ignore[index]
        conn.execute("insert into marks (n) values (2)")
    bench.wait("the receiver", bench.caught_up)
    inc_id = bench.dbops("backup", "list")["backups"][-1]["id"]
    ours_dir = bench.base / "ours"
    bench.restored.append(ours_dir)
    started = time.perf_counter()
    bench.dbops("restore", inc_id, "--to-time", target, "--target-dir", str(ours_dir), "--start")
    ours = time.perf_counter() - started
    stop_restored(ours_dir)
    manual_dir = bench.base / "manual"
    bench.restored.append(manual_dir)
    started = time.perf_counter()
    _manual_restore(bench, inc_id, target, manual_dir)
    manual = time.perf_counter() - started
    report("restore_to_time_vs_manual", ours / manual, f"dbops {ours:.2f} s, by hand {manual:.2f} s")


def _manual_restore(bench: Bench, inc_id: str, target: str, out: Path) -> None:
    """What a DBA types: combine, copy the WAL, recovery settings, start, wait for the promotion."""
    manifest = json.loads((bench.backups / inc_id / "manifest.json").read_text())
    chain = [*manifest["physical"]["chain"], inc_id]
    out.mkdir()
    data = out / "data"
    subprocess.run(
        [program("pg_combinebackup"), "-o", str(data), *(str(bench.backups / b / "base") for b in chain)],
        check=True, capture_output=True,
    )  # fmt: skip
    wal = out / "wal"
    wal.mkdir()
    for f in (bench.backups / "wal").iterdir():
        if f.name[:24].isalnum() and len(f.name) >= 24:
            shutil.copyfile(f, wal / f.name.removesuffix(".partial"))
    (out / "run").mkdir()
    with (data / "postgresql.auto.conf").open("a") as fh:
        fh.write(
            f"restore_command = 'cp {wal}/%f %p'\nrecovery_target_time = '{target}'\n"
            "recovery_target_action = 'promote'\nsynchronous_standby_names = ''\n"
            f"listen_addresses = ''\nunix_socket_directories = '{out / 'run'}'\n"
        )
    (data / "recovery.signal").touch()
    for leftover in data.glob(".s.PGSQL.*"):
        leftover.unlink()
    data.chmod(0o700)
    let_server_reach(out)
    hand_over(out)
    run_as_server([program("pg_ctl"), "-D", str(data), "-l", str(out / "log"), "-w", "start"])
    url = embedded.socket_url(out / "run", 5432)
    with psycopg.connect(url, autocommit=True) as conn:
        Bench.wait("the promotion", lambda: not conn.execute("select pg_is_in_recovery()").fetchone()[0])  # type: ignore[index]


def _rpo(bench: Bench) -> None:
    with psycopg.connect(bench.url, autocommit=True) as conn:
        conn.execute(
            "create table ticks (n int primary key, at timestamptz not null default clock_timestamp())"
        )
    seen: dict[int, datetime] = {}
    stop = threading.Event()

    def writer(offset: int) -> None:
        try:
            with psycopg.connect(bench.url, autocommit=True) as conn:
                n = offset
                while not stop.is_set():
                    row = conn.execute("insert into ticks (n) values (%s) returning at", (n,)).fetchone()
                    seen[n] = row[0]  # type: ignore[index]
                    n += 4
        except psycopg.Error:
            pass

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    Bench.wait("writes", lambda: len(seen) > 2000)
    pid = int((bench.home / "pgdata" / "postmaster.pid").read_text().splitlines()[0])
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    os.kill(pid, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    if bench.receiver is not None:
        bench.receiver.send_signal(signal.SIGTERM)
        bench.receiver.wait(timeout=30)
    inc_id = bench.dbops("backup", "list")["backups"][-1]["id"]
    out = bench.base / "latest"
    bench.restored.append(out)
    started = time.perf_counter()
    result = bench.dbops("restore", inc_id, "--latest", "--target-dir", str(out), "--start")
    rto = time.perf_counter() - started
    with psycopg.connect(result["url"], autocommit=True) as conn:
        restored = {r[0] for r in conn.execute("select n from ticks").fetchall()}
    lost = [n for n in seen if n not in restored]
    last_seen = max(seen.values())
    last_restored = max((seen[n] for n in seen if n in restored), default=last_seen)
    report(
        "rpo_seconds_synchronous",
        (last_seen - last_restored).total_seconds(),
        f"{len(lost)} of {len(seen)} acknowledged commits lost; restore --latest took {rto:.2f} s",
    )
