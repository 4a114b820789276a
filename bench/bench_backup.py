"""Backup benchmark: `dbops backup` and `backup verify --restore` against plain pg_dump / pg_restore.

Runs on a clone of the cached bench dataset (bench/dataset.py: the shipped schema and
policies with the sample-data generator's rows) of BENCH_BACKUP_USERS users (default 17000:
about 1 GB), on BENCH_DATABASE_URL, else the embedded server under .dbops/bench, and times,
best of BENCH_BACKUP_ROUNDS (default 2) interleaved rounds, on the same data in the same run:

- backup_vs_pg_dump_same_compression: `dbops backup --compress gzip` / `pg_dump -Fc` (both gzip level 6)
- backup_auto_vs_pg_dump: `dbops backup` (compression chosen by measurement) / `pg_dump -Fc`
- backup_auto_size_vs_pg_dump: its dump size / pg_dump -Fc's size
- directory_jobs2_vs_jobs1: `--format directory --jobs 2` / `--format directory --jobs 1`
- verify_restore_vs_pg_restore: `backup verify --restore` / `pg_restore` into a new database
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from bench.common import server_url
from bench.dataset import bench_dataset
from ops import embedded
from ops.db import with_database

RESTORED = "dbops_bench_backup_restore"


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def dbops(*args: str) -> list[str]:
    return [sys.executable, "-m", "ops", *args]


def _overhead_parts(url: str, dump: Path) -> str:
    """What dbops adds around pg_dump, each timed alone: row counts, SHA-256, the TOC read-back."""
    from ops.backup import PgTools
    from ops.backup.dump import count_rows, toc_entries
    from ops.backup.manifest import sha256_file

    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        count_rows(conn)
    counting = time.perf_counter() - started
    started = time.perf_counter()
    sha256_file(dump)
    hashing = time.perf_counter() - started
    started = time.perf_counter()
    toc_entries(PgTools(embedded.bin_dir(), "", 0), dump)
    listing = time.perf_counter() - started
    return (
        f"row counts {counting:.2f} s (run beside pg_dump), sha256 {hashing:.2f} s, "
        f"pg_restore --list {listing:.2f} s"
    )


def _round(server: str, url: str, work: Path, n: int) -> tuple[dict[str, float], dict[str, object]]:
    """One pass over every measurement; directories are removed after, so each pass writes anew."""
    bin_dir = embedded.bin_dir()
    times: dict[str, float] = {}
    plain = work / f"plain{n}.dump"
    times["plain"] = timed([str(bin_dir / "pg_dump"), "-Fc", "-f", str(plain), "--dbname", url])
    times["same"] = timed(
        dbops("--database-url", url, "backup", "--dir", str(work / "same"), "--compress", "gzip")
    )
    started = time.perf_counter()
    out = subprocess.run(
        dbops("--database-url", url, "--json", "backup", "--dir", str(work / "auto")),
        check=True,
        capture_output=True,
        text=True,
    )
    times["auto"] = time.perf_counter() - started
    manifest = json.loads(out.stdout)["manifest"]
    directory = ("--format", "directory", "--compress", manifest["compression"])
    times["dir1"] = timed(dbops("--database-url", url, "backup", "--dir", str(work / "d1"), *directory))
    times["dir2"] = timed(
        dbops("--database-url", url, "backup", "--dir", str(work / "d2"), *directory, "--jobs", "2")
    )

    restored = RESTORED
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(restored)))
        admin.execute(sql.SQL("create database {} template template0").format(sql.Identifier(restored)))
    restore_url = with_database(server, restored)
    dump = work / "auto" / manifest["id"] / "dump.pgdump"
    command = [
        str(bin_dir / "pg_restore"),
        "--single-transaction",
        "--exit-on-error",
        "--dbname",
        restore_url,
    ]
    times["pg_restore"] = timed([*command, str(dump)])
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(restored)))
    verify = ("backup", "verify", manifest["id"], "--restore", "--dir", str(work / "auto"))
    times["verify"] = timed(dbops("--database-url", url, *verify))
    facts = {
        "plain_size": plain.stat().st_size,
        "auto_size": sum(f["size"] for f in manifest["files"]),
        "compression": manifest["compression"],
        "reason": manifest["compression_reason"],
    }
    facts["overhead"] = _overhead_parts(url, dump)
    for name in ("same", "auto", "d1", "d2"):
        shutil.rmtree(work / name, ignore_errors=True)
    plain.unlink()
    return times, facts


def main() -> None:
    users = int(os.environ.get("BENCH_BACKUP_USERS", "17000"))
    rounds = int(os.environ.get("BENCH_BACKUP_ROUNDS", "2"))
    server = server_url()
    work = Path(tempfile.mkdtemp(prefix="dbops-bench-backup-"))
    try:
        clock = time.perf_counter()
        with bench_dataset(users, server=server) as url:
            with psycopg.connect(url) as conn:
                row = conn.execute("select pg_database_size(current_database())").fetchone()
            size_mb = int(row[0]) / 1e6 if row else 0.0
            print(
                f"# backup bench: {users} users' sample data, database {size_mb:.0f} MB (ready in "
                f"{time.perf_counter() - clock:.0f} s); best of {rounds} interleaved rounds"
            )
            _report(server, url, work, rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _report(server: str, url: str, work: Path, rounds: int) -> None:
    best: dict[str, float] = {}
    facts: dict[str, object] = {}
    for n in range(rounds):
        times, facts = _round(server, url, work, n)
        best = {k: min(v, best.get(k, v)) for k, v in times.items()}
    plain_size, auto_size = int(str(facts["plain_size"])), int(str(facts["auto_size"]))
    print(f"# pg_dump -Fc (default gzip 6): {best['plain']:.1f} s, {plain_size / 1e6:.1f} MB")
    print(f"# dbops backup --compress gzip (same): {best['same']:.1f} s")
    print(f"# dbops backup (auto: {facts['compression']}): {best['auto']:.1f} s, {auto_size / 1e6:.1f} MB")
    print(f"#   why: {facts['reason']}")
    print(
        f"# directory format ({facts['compression']}): "
        f"jobs 1 {best['dir1']:.1f} s, jobs 2 {best['dir2']:.1f} s"
    )
    print(f"# pg_restore: {best['pg_restore']:.1f} s; backup verify --restore: {best['verify']:.1f} s")
    print(f"# dbops' own work, timed alone: {facts['overhead']}")
    print(f"backup_vs_pg_dump_same_compression: {best['same'] / best['plain']:.3f}")
    print(f"backup_auto_vs_pg_dump: {best['auto'] / best['plain']:.3f}")
    print(f"backup_auto_size_vs_pg_dump: {auto_size / plain_size:.3f}")
    print(f"directory_jobs2_vs_jobs1: {best['dir2'] / best['dir1']:.3f}")
    print(f"verify_restore_vs_pg_restore: {best['verify'] / best['pg_restore']:.3f}")


if __name__ == "__main__":
    main()
