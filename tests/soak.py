"""`make soak`: every job at once, under application load, with kill -9 of a random job.

On the test server (embedded, under .dbops/test), in a database of its own with sample data:
application processes call ops.queries as their users and record what they committed;
job loops run `retention run`, `backup` + `backup verify latest --restore`, `check`, and
`migrate` / `rollback` of a test-only migration that adds and backfills a column; a killer
sends SIGKILL to a random running job (its process group: pg_dump/pg_restore with it) every
few seconds. Then every job runs once more with nothing killed, and the invariants are
checked and printed. The last line is the summary. Bounded by SOAK_SECONDS (default 120).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tests.processes import clean_env
from tests.server import HEAD, ROOT, start_test_server

APP_PROCESSES = 3
KILL_EVERY_S = (1.5, 4.0)
ARCHIVED = ("quizzes", "tutor_chats", "study_sessions", "topics", "misconceptions")
# server log lines a soak produces by design: killed clients, lock timeouts, forced drops
EXPECTED_LOG = re.compile(
    r"lock timeout|could not obtain lock|statement timeout|canceling statement due to user request"
    r"|administrator command|connection to client lost|could not receive data from client"
    r"|unexpected EOF|could not send data to client|broken pipe|does not exist"
    r"|current transaction is aborted|duplicate key value|terminating connection because of crash"
    r"|role .* already exists|deadlock detected|canceling autovacuum"
    # `rollback` withdraws every policy for its length (fail-closed): application writes are refused
    r"|new row violates row-level security policy"
    r"|protocol synchronization was lost",  # a client killed in the middle of a message
    re.IGNORECASE,
)
SOAK_MIGRATION = (
    f"-- depends: {HEAD}\n"
    "alter table quizzes add column soak_grade text;\n"
    "alter table archive.quizzes add column soak_grade text;\n"
    "update quizzes set soak_grade = 'g-' || id;\n"
    "update archive.quizzes set soak_grade = 'g-' || id;\n"
)
SOAK_ROLLBACK = (
    "alter table archive.quizzes drop column soak_grade;\nalter table quizzes drop column soak_grade;\n"
)


# -- the application ------------------------------------------------------------------------


def app_process(url: str, number: int, stop: Any, out: str) -> None:
    """One simulated user after another: sessions, topics, quizzes, chats, misconceptions,
    plan cache; every id it saw committed is recorded, every read is checked for its owner."""
    from ops import queries as q
    from ops.db import connect

    rng = random.Random(number)
    written: dict[str, list[str]] = {t: [] for t in (*ARCHIVED, "plan_cache")}
    plans: list[tuple[str, str]] = []
    ops = cross = 0
    errors: list[str] = []
    others: list[str] = []
    with connect(url) as conn:
        while not stop.is_set():
            try:
                me = q.login(conn, f"soak-{number}-{uuid.uuid4().hex[:8]}")
                session = q.start_session(conn, me, "soak exam")
                written["study_sessions"].append(str(session))
                topics = q.add_topics(conn, me, session, [f"topic {k}" for k in range(3)])
                written["topics"] += [str(t.id) for t in topics]
                for topic in topics:
                    quiz = q.save_quiz(conn, me, topic.id, [{"q": rng.random()}])
                    written["quizzes"].append(str(quiz.id))
                    q.save_chat(conn, me, topic.id, [{"role": "user", "text": "why"}], "because")
                    written["tutor_chats"].append(f"{me}/{topic.id}")
                    ids = q.record_misconceptions(conn, me, topic.id, ["mixed up terms"])
                    written["misconceptions"] += [str(i) for i in ids]
                    latest = q.latest_quiz(conn, me, topic.id)
                    if latest is None:  # its own row hidden: policies withdrawn by a rollback
                        errors.append("RLS-refused")
                    cross += latest is not None and latest.user_id != str(me)
                    ops += 5
                cross += any(
                    m.topic_id not in {t.id for t in topics} for m in q.recent_misconceptions(conn, me)
                )
                for other in others[-3:]:  # another user's topic: must read as nothing
                    cross += q.latest_quiz(conn, me, other) is not None
                others.append(str(topics[0].id))
                key = f"soak-{number}-{rng.randrange(10**9)}"
                plan = q.put_cached_plan(
                    conn, key, {"steps": [1]}, ttl=timedelta(seconds=rng.choice([1, 3600]))
                )
                plans.append((key, plan.expires_at.isoformat()))
                cached = q.get_cached_plan(conn, me, key)
                ops += 6 + len(others[-3:])
                cross += cached is not None and cached.cache_key != key
            except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
                errors.append(type(exc).__name__)  # nothing of that call committed
            except psycopg.errors.InsufficientPrivilege as exc:  # refused while a rollback withdrew policies
                errors.append(
                    "RLS-refused" if "row-level security" in str(exc) else f"InsufficientPrivilege: {exc}"
                )
            except q.NotFound:  # its own session hidden, for the same reason
                errors.append("RLS-refused")
            except Exception as exc:  # recorded and judged by the invariants
                errors.append(f"{type(exc).__name__}: {exc}")
    Path(out).write_text(json.dumps({"written": written, "plans": plans, "ops": ops, "cross": cross,
                                     "errors": errors}))  # fmt: skip


# -- the jobs -----------------------------------------------------------------------------


@dataclass
class Soak:
    url: str
    work: Path
    migrations: Path
    stop: threading.Event = field(default_factory=threading.Event)
    running: dict[int, tuple[str, subprocess.Popen[str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    operations: int = 0
    kills: int = 0
    bad_exits: list[str] = field(default_factory=list)

    def dbops(self, name: str, *args: str, allowed: tuple[int, ...] = (0,)) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ops", "--database-url", self.url, *args],
            cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        with self.lock:
            self.running[proc.pid] = (name, proc)
        out, err = proc.communicate()
        with self.lock:
            self.running.pop(proc.pid, None)
            self.operations += 1
        if proc.returncode != -signal.SIGKILL and proc.returncode not in allowed:
            self.bad_exits.append(f"{name} {' '.join(args)}: exit {proc.returncode}: {(err or out)[-400:]}")
        return proc.returncode

    def loop(self, steps: list[tuple[str, tuple[str, ...], tuple[int, ...]]]) -> None:
        while not self.stop.is_set():
            for name, args, allowed in steps:
                if self.stop.is_set():
                    return
                self.dbops(name, *args, allowed=allowed)

    def killer(self, rng: random.Random) -> None:
        while not self.stop.wait(rng.uniform(*KILL_EVERY_S)):
            with self.lock:
                victims = list(self.running.values())
            if not victims:
                continue
            _, proc = rng.choice(victims)
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the job and its pg_dump / pg_restore
                self.kills += 1
            except ProcessLookupError:
                pass

    def job_loops(self) -> list[list[tuple[str, tuple[str, ...], tuple[int, ...]]]]:
        backups = str(self.work / "backups")
        mig = ("--migrations-dir", str(self.migrations), "--lock-wait", "5")
        return [
            [("retention", ("retention", "run", "--max-runtime", "5"), (0, 5, 6))],
            [("backup", ("backup", "--dir", backups), (0, 5)),
             # 1: the restored copy has the soak's own check findings (its test-only migrations)
             ("verify", ("backup", "verify", "latest", "--restore", "--dir", backups), (0, 1, 2, 5))],
            [("check", ("check", "--category", "integrity"), (0, 1, 5))],
            [("migrate", (*mig, "migrate"), (0, 5)),
             ("rollback", (*mig, "rollback", "--to", HEAD, "--yes"), (0, 5))],
        ]  # fmt: skip


# -- invariants ---------------------------------------------------------------------------


def _ids(conn: psycopg.Connection[Any], schema: str, table: str) -> set[str]:
    key = sql.SQL("user_id || '/' || topic_id" if table == "tutor_chats" else "id::text")
    query = sql.SQL("select {} from {}").format(key, sql.Identifier(schema, table))
    return {r[0] for r in conn.execute(query).fetchall()}


def check_rows(
    conn: psycopg.Connection[Any], committed: dict[str, set[str]], plans: dict[str, datetime]
) -> tuple[list[str], int]:
    """Each committed row is live, archived, or removed by a rule that allowed it; per table."""
    lines, violations = [], []
    checked = 0
    for table in ARCHIVED:
        live, archived = _ids(conn, "public", table), _ids(conn, "archive", table)
        rows = committed[table]
        lost = rows - live - archived
        both = live & archived
        checked += len(rows)
        counts = f"{len(rows & live)} live, {len(rows & archived)} archived, {len(lost)} lost"
        lines.append(f"  {table}: {len(rows)} committed, {counts}, {len(both)} both live and archived")
        violations += [f"{table}: lost {sorted(lost)[:5]}"] * bool(lost) + [
            f"{table}: both {sorted(both)[:5]}"
        ] * bool(both)
    live_keys = {r[0] for r in conn.execute("select cache_key from plan_cache").fetchall()}
    now = conn.execute("select now()").fetchone()[0]  # type: ignore[index]
    gone = [k for k in plans if k not in live_keys]
    unexpired = [k for k in gone if plans[k] > now]
    checked += len(plans)
    lines.append(f"  plan_cache: {len(plans)} committed, {len(plans) - len(gone)} live, {len(gone)} evicted "
                 f"(all expired: {not unexpired})")  # fmt: skip
    violations += [f"plan_cache: evicted before expiry {unexpired[:5]}"] * bool(unexpired)
    return lines + [f"VIOLATION {v}" for v in violations], checked


def snapshot(conn: psycopg.Connection[Any]) -> tuple[dict[str, set[str]], dict[str, datetime]]:
    committed = {t: _ids(conn, "public", t) | _ids(conn, "archive", t) for t in ARCHIVED}
    plans = dict(conn.execute("select cache_key, expires_at from plan_cache").fetchall())
    return committed, plans


def server_log_problems(log: Path, offset: int) -> list[str]:
    with log.open("rb") as fh:
        fh.seek(offset)
        text = fh.read().decode("utf-8", "replace")
    bad = []
    for line in text.splitlines():
        if re.search(r"\b(ERROR|FATAL|PANIC):", line) and not EXPECTED_LOG.search(line):
            bad.append(line.strip()[:300])
    return bad


def main() -> int:
    seconds = float(os.environ.get("SOAK_SECONDS", "120"))
    seed = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    server = start_test_server()
    name = f"dbops_soak_{os.getpid()}"
    admin = psycopg.connect(server.url("postgres"), autocommit=True)
    admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = server.url(name)
    work = Path(tempfile.mkdtemp(prefix="dbops-soak-"))
    log = ROOT / ".dbops" / "test" / "pgdata" / "log"
    log_offset = log.stat().st_size if log.exists() else 0
    print(f"soak: {seconds:.0f} s, seed {seed}, database {name}, work {work}", flush=True)
    violations: list[str] = []
    try:
        shutil.copytree(ROOT / "migrations", work / "migrations")
        (work / "migrations" / "9001_soak_grade.sql").write_text(SOAK_MIGRATION)
        (work / "migrations" / "9001_soak_grade.rollback.sql").write_text(SOAK_ROLLBACK)
        soak = Soak(url, work, work / "migrations")
        for args in (
            ["migrate"],
            ["sample-data", "--users", "150", "--seed", "7", "--anchor", "2026-01-01T00:00:00Z"],
        ):
            assert soak.dbops("setup", *args) == 0, soak.bad_exits
        soak.operations = 0
        conn = psycopg.connect(url, autocommit=True)
        committed, plans = snapshot(conn)

        ctx = multiprocessing.get_context("spawn")
        stop_app = ctx.Event()
        outs = [str(work / f"app-{n}.json") for n in range(APP_PROCESSES)]
        apps = [
            ctx.Process(target=app_process, args=(url, n, stop_app, outs[n])) for n in range(APP_PROCESSES)
        ]
        for p in apps:
            p.start()
        threads = [threading.Thread(target=soak.loop, args=(steps,)) for steps in soak.job_loops()]
        threads.append(threading.Thread(target=soak.killer, args=(random.Random(rng.random()),)))
        for t in threads:
            t.start()
        try:
            time.sleep(seconds)
        finally:  # also on Ctrl-C: stop the loops and the application, leave nothing running
            soak.stop.set()
            for t in threads:
                t.join()
            stop_app.set()
            for p in apps:
                p.join(120)
                if p.is_alive():
                    p.kill()
        cross = app_ops = 0
        app_errors: list[str] = []
        for out in outs:
            data = json.loads(Path(out).read_text())
            for table, ids in data["written"].items():
                if table in committed:
                    committed[table] |= set(ids)
            plans.update({k: datetime.fromisoformat(v) for k, v in data["plans"]})
            cross += data["cross"]
            app_ops += data["ops"]
            app_errors += data["errors"]
        expected_app = ("LockNotAvailable", "QueryCanceled", "RLS-refused")
        unexpected_app = [e for e in app_errors if e not in expected_app]
        print(
            "application: "
            + ", ".join(f"{e}: {app_errors.count(e)}" for e in expected_app)
            + " (refused calls commit nothing; RLS-refused: hidden while a rollback withdrew policies)"
        )

        print("converge: every job once more, nothing killed", flush=True)
        before = len(soak.bad_exits)
        backups = str(work / "backups")
        mig = ("--migrations-dir", str(work / "migrations"))
        for jname, args, allowed in [
            ("retention", ("retention", "run"), (0,)),
            ("backup", ("backup", "--dir", backups), (0,)),
            ("verify", ("backup", "verify", "latest", "--restore", "--dir", backups), (0, 1)),
            ("check", ("check", "--category", "integrity"), (0, 1)),
            ("migrate", (*mig, "migrate"), (0,)),
            ("rollback", (*mig, "rollback", "--to", HEAD, "--yes"), (0,)),
            ("prune", ("backup", "prune", "--dir", backups, "--keep-last", "2"), (0,)),
        ]:
            code = soak.dbops(jname, *args, allowed=allowed)
            print(f"  {jname}: exit {code}")
        converge_failures = soak.bad_exits[before:]
        during = soak.bad_exits[:before]

        lines, checked = check_rows(conn, committed, plans)
        print("rows:")
        for line in lines:
            print(line)
        violations += [line for line in lines if line.startswith("VIOLATION")]
        leftovers = "select datname from pg_database where datname ~ '^dbops_(backup_verify|verify|check)_'"
        scratch = [r[0] for r in admin.execute(leftovers).fetchall()]
        partial = (
            [p.name for p in (work / "backups").glob(".*.partial")] if (work / "backups").is_dir() else []
        )
        log_bad = server_log_problems(log, log_offset)
        checks = [
            ("no user read another user's row", cross == 0, f"{cross} cross reads"),
            ("a kill every 6 s or more often", soak.kills >= seconds / 6, f"{soak.kills} kills"),
            ("application calls failed only as expected", not unexpected_app, unexpected_app[:3]),
            ("job exits during the soak were from the table (0, 5, 6; check 1)", not during, during[:3]),
            ("every job converges when run once more", not converge_failures, converge_failures[:3]),
            ("no scratch database left", not scratch, scratch),
            ("no partial backup folder left", not partial, partial),
            ("server log: no unexpected errors", not log_bad, log_bad[:5]),
        ]
        for label, ok, detail in checks:
            print(f"  {'ok  ' if ok else 'FAIL'} {label}" + ("" if ok else f": {detail}"))
            if not ok:
                violations.append(label)
        conn.close()
        print(f"soak summary: {soak.operations} job runs, {app_ops} application calls, {soak.kills} kills, "
              f"{checked} rows checked, violations = {len(violations)}")  # fmt: skip
        return 0 if not violations else 1
    finally:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        admin.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
