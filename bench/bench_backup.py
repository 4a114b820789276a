"""Backup benchmark: `dbops backup` and `backup verify --restore` against plain pg_dump / pg_restore.

Generates a database of about BENCH_BACKUP_MB megabytes (default 300; the issue asks about
1 GB, but on a 2-core machine generating and dumping that takes several minutes per run) on
BENCH_DATABASE_URL, else the embedded server under .dbops/bench, with plain SQL, then times,
best of BENCH_BACKUP_ROUNDS (default 2) interleaved rounds, on the same data in the same run:

- backup_vs_pg_dump_same_compression: `dbops backup --compress gzip` / `pg_dump -Fc` (both gzip level 6)
- backup_auto_vs_pg_dump: `dbops backup` (compression chosen by measurement) / `pg_dump -Fc`
- backup_auto_size_vs_pg_dump: its dump size / pg_dump -Fc's size
- directory_jobs2_vs_jobs1: `--format directory --jobs 2` / `--format directory --jobs 1`
- verify_restore_vs_pg_restore: `backup verify --restore` / `pg_restore` into a new database

Generation stops early when it takes longer than BENCH_BACKUP_GEN_SECONDS (default 150): the
size actually dumped is printed with the ratios.
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

from ops import embedded, migrate
from ops.config import load_settings
from ops.db import with_database

ROOT = Path(__file__).resolve().parent.parent
DBNAME = "dbops_bench_backup"

SENTENCES = """
create temp table sentence as
select i as id,
       array_to_string(array(
           select (array['the','student','reviews','integration','by','parts','limits','of','functions',
                         'organic','chemistry','reaction','mechanism','kinetic','energy','momentum','is',
                         'conserved','when','no','external','force','acts','probability','of','an','event',
                         'derivative','slope','tangent','matrix','determinant','cell','membrane','osmosis'])
                  [1 + floor(random() * 35)::int]
           from generate_series(1, 30 + i % 20) where i > 0), ' ') as s
from generate_series(0, 999) as i
"""

BASE_ROWS = """
insert into users (email, name)
select 'user' || g || '@example.org', 'User ' || g from generate_series(1, 50000) as g;
insert into study_sessions (user_id, exam_type, current_state, metadata)
select id, (array['JEE', 'NEET', 'SAT', 'GRE'])[1 + (abs(hashtext(id::text)) % 4)], 'LEARNING',
       jsonb_build_object('goal', 'score 90', 'hours', abs(hashtext(id::text)) % 40)
from users;
insert into topics (session_id, name, mastery_score)
select s.id, 'topic ' || k, k * 10 from study_sessions as s, generate_series(1, 3) as k;
insert into misconceptions (user_id, topic_id, description)
select ss.user_id, t.id, (select s from sentence where id = t.mastery_score + 1)
from topics as t join study_sessions as ss on ss.id = t.session_id;
"""

CHATS = """
insert into tutor_chats (user_id, topic_id, messages, explanation)
select g::text, 'topic-' || g,
       jsonb_build_array(
           jsonb_build_object('role', 'user', 'text', (select s from sentence where id = g %% 1000)),
           jsonb_build_object('role', 'assistant', 'text',
               (select s from sentence where id = (g * 7) %% 1000) || ' ' || md5(g::text) || ' ' ||
               (select s from sentence where id = (g * 13) %% 1000) || ' ' ||
               (select s from sentence where id = (g * 17) %% 1000)),
           jsonb_build_object('role', 'user', 'text', (select s from sentence where id = (g * 19) %% 1000))),
       (select s from sentence where id = (g * 23) %% 1000) || ' ' || md5((g * 3)::text)
from generate_series(%(start)s::int, %(stop)s::int) as g
"""

QUIZZES = """
insert into quizzes (user_id, topic_id, questions)
select g::text, 'topic-' || g,
       jsonb_build_array(
           jsonb_build_object('q', (select s from sentence where id = (g * 29) %% 1000), 'a', g %% 4),
           jsonb_build_object('q', (select s from sentence where id = (g * 31) %% 1000), 'a', g %% 3),
           jsonb_build_object(
               'q', (select s from sentence where id = (g * 37) %% 1000) || ' ' || md5(g::text), 'a', g %% 5),
           jsonb_build_object('q', (select s from sentence where id = (g * 41) %% 1000), 'a', g %% 2))
from generate_series(%(start)s::int, %(stop)s::int) as g
"""


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def generate(admin_url: str, url: str, target_mb: int, budget_s: float) -> float:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        if (
            os.environ.get("BENCH_BACKUP_REUSE")
            and admin.execute("select 1 from pg_database where datname = %s", (DBNAME,)).fetchone()
        ):
            with psycopg.connect(url) as conn:
                row = conn.execute("select pg_database_size(current_database())").fetchone()
            return int(row[0]) / 1e6 if row else 0.0
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(DBNAME)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(DBNAME)))
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.migrate(conn, load_settings({"database_url": url}, {}, ROOT))
        conn.execute(SENTENCES)
        conn.execute("alter table sentence add primary key (id)")
        conn.execute("analyze sentence")
        conn.execute(BASE_ROWS)
        batch, start = 25_000, 1
        while True:
            conn.execute(CHATS, {"start": start, "stop": start + batch - 1})
            conn.execute(QUIZZES, {"start": start, "stop": start + batch - 1})
            start += batch
            row = conn.execute("select pg_database_size(current_database())").fetchone()
            size_mb = int(row[0]) / 1e6 if row else 0.0
            if size_mb >= target_mb or time.perf_counter() - started > budget_s:
                break
        conn.execute("vacuum analyze")
        row = conn.execute("select pg_database_size(current_database())").fetchone()
    return int(row[0]) / 1e6 if row else 0.0


def dbops(*args: str) -> list[str]:
    return [sys.executable, "-m", "ops", *args]


def _overhead_parts(url: str, dump: Path) -> str:
    """What dbops adds around pg_dump, each timed alone: row counts, SHA-256, the TOC read-back."""
    from ops.backup import count_rows, toc_entries
    from ops.backup_manifest import sha256_file
    from ops.backup_tools import PgTools

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

    restored = f"{DBNAME}_restore"
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
    target_mb = int(os.environ.get("BENCH_BACKUP_MB", "300"))
    budget = float(os.environ.get("BENCH_BACKUP_GEN_SECONDS", "150"))
    rounds = int(os.environ.get("BENCH_BACKUP_ROUNDS", "2"))
    server = os.environ.get("BENCH_DATABASE_URL") or embedded.ensure_running(ROOT / ".dbops" / "bench")
    url = with_database(server, DBNAME)
    work = Path(tempfile.mkdtemp(prefix="dbops-bench-backup-"))
    try:
        clock = time.perf_counter()
        size_mb = generate(server, url, target_mb, budget)
        print(
            f"# backup bench: database {size_mb:.0f} MB (asked {target_mb} MB), generated in "
            f"{time.perf_counter() - clock:.0f} s; best of {rounds} interleaved rounds"
        )
        best: dict[str, float] = {}
        facts: dict[str, object] = {}
        for n in range(rounds):
            times, facts = _round(server, url, work, n)
            best = {k: min(v, best.get(k, v)) for k, v in times.items()}
        plain_size, auto_size = int(str(facts["plain_size"])), int(str(facts["auto_size"]))
        print(f"# pg_dump -Fc (default gzip 6): {best['plain']:.1f} s, {plain_size / 1e6:.1f} MB")
        print(f"# dbops backup --compress gzip (same): {best['same']:.1f} s")
        print(
            f"# dbops backup (auto: {facts['compression']}): {best['auto']:.1f} s, {auto_size / 1e6:.1f} MB"
        )
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
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not os.environ.get("BENCH_BACKUP_REUSE"):
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(DBNAME))
                )


if __name__ == "__main__":
    main()
