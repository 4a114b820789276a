"""`dbops check` on a demo-sized database, against raw baselines measured in the same run.

- check_vs_raw_sql: `dbops check` (the CLI, every check but --deep, schema cache warm)
  divided by the same 30 SQL check files run through bare psycopg in one transaction.
- deep_mb_per_s_vs_pg_amcheck: the MB/s of `dbops check --deep --category physical`
  divided by the MB/s of plain `pg_amcheck --heapallindexed` on the same schemas.

Run: `python -m bench.bench_checks` (uses DATABASE_URL, else the embedded server).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "dbops_bench_checks"
SCHEMAS = ("public", "archive")  # the schemas with tables (pg_amcheck refuses an empty one)

# demo-sized data in plain SQL: 2,000 users, 10,000 sessions, 50,000 topics, 20,000 each of
# misconceptions, tutor chats and quizzes, 10,000 cached plans (a tenth expired)
DEMO_DATA = """
insert into users (id, name, email)
select gen_random_uuid(), 'user' || g, 'user' || g || '@example.org' from generate_series(1, 2000) as g;
insert into study_sessions (user_id, exam_type, current_state, metadata)
select u.id, (array['GRE', 'GMAT', 'SAT'])[1 + g % 3],
       (array['INTAKE', 'PLANNING', 'LEARNING', 'QUIZZING', 'ANALYZING', 'COMPLETED'])[1 + g % 6],
       jsonb_build_object('n', g)
from generate_series(1, 10000) as g
inner join (select id, row_number() over (order by id) - 1 as n from users) as u on g % 2000 = u.n;
insert into topics (session_id, name, status, mastery_score)
select s.id, 'topic ' || t, 'pending', (t * 17) % 101
from study_sessions as s cross join generate_series(1, 5) as t;
insert into misconceptions (user_id, topic_id, description)
select s.user_id, t.id, 'misread ' || t.name
from topics as t inner join study_sessions as s on t.session_id = s.id
where t.name in ('topic 1', 'topic 3');
insert into tutor_chats (user_id, topic_id, messages, explanation)
select s.user_id::text, t.id::text,
       jsonb_build_array(jsonb_build_object('role', 'user', 'text', repeat('q', 80))), repeat('because ', 20)
from topics as t inner join study_sessions as s on t.session_id = s.id
where t.name in ('topic 2', 'topic 4');
insert into quizzes (user_id, topic_id, questions)
select s.user_id::text, t.id::text, jsonb_build_array(jsonb_build_object('q', repeat('x', 120)))
from topics as t inner join study_sessions as s on t.session_id = s.id
where t.name in ('topic 2', 'topic 5');
insert into plan_cache (cache_key, plan, expires_at)
select 'plan:' || g, jsonb_build_object('weeks', g % 12),
       now() + (case when g % 10 = 0 then -1 else 1 end) * interval '1 day'
from generate_series(1, 10000) as g;
"""


def _server_url() -> str:
    from ops.config import load_settings
    from ops.db import resolve_url

    return resolve_url(load_settings({}, os.environ, ROOT))


def _prepare(admin_url: str) -> str:
    from ops.config import load_settings
    from ops.db import with_database
    from ops.deploy import deploy

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(BENCH_DB)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(BENCH_DB)))
    url = with_database(admin_url, BENCH_DB)
    with psycopg.connect(url, autocommit=True) as conn:
        settings = load_settings({"database_url": url}, {}, ROOT)
        # as `dbops migrate` does it: the migrations, then policies/
        deploy(conn, settings)
        conn.execute(DEMO_DATA.encode())
        conn.execute("create extension if not exists amcheck")
        conn.execute("vacuum analyze")
    return url


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _dbops(url: str, *args: str, home: str | None = None) -> None:
    cmd = [str(Path(sys.executable).parent / "dbops"), "--database-url", url, "check", *args]
    env = {**os.environ, "DBOPS_HOME": home} if home else None
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False, env=env)
    if done.returncode not in (0, 1):
        raise SystemExit(f"dbops check failed ({done.returncode}): {done.stderr or done.stdout}")


def _raw_sql_checks(url: str) -> None:
    """The baseline: the check files' SELECTs through bare psycopg, one transaction."""
    from ops.checks import DEFAULT_PARAMS

    files = sorted((ROOT / "checks").glob("*.sql"))
    with psycopg.connect(url) as conn:
        conn.execute("set transaction read only")
        for name, value in {**DEFAULT_PARAMS, "schemas": list(SCHEMAS)}.items():
            if isinstance(value, list):
                conn.execute("select set_config(%s, %s::text[]::text, true)", (f"dbops.{name}", value))
            else:
                conn.execute("select set_config(%s, %s, true)", (f"dbops.{name}", str(value)))
        for f in files:
            conn.execute(f.read_text().encode()).fetchall()
        conn.rollback()


def _deep_bytes(url: str) -> int:
    from ops import sqlfiles

    with psycopg.connect(url) as conn:
        targets = sqlfiles.query("ops.checks", "amcheck_targets")
        rows = conn.execute(targets, {"schemas": list(SCHEMAS)}).fetchall()
    return sum(int(r[3]) for r in rows)


def _check_in_process(url: str) -> None:
    from ops.checks import CheckConfig, run_checks
    from ops.config import load_settings

    settings = load_settings({"database_url": url}, {}, ROOT)
    with psycopg.connect(url, autocommit=True) as conn:
        run_checks(conn, settings, CheckConfig(), conninfo=url)


def _deep_in_process(url: str) -> None:
    from ops.checks import CheckConfig, run_checks
    from ops.config import load_settings

    settings = load_settings({"database_url": url}, {}, ROOT)
    with psycopg.connect(url, autocommit=True) as conn:
        report = run_checks(
            conn, settings, CheckConfig(schemas=SCHEMAS), conninfo=url, categories=("physical",), deep=True
        )
    assert {r.status for r in report.results} == {"passed"}, report.results


def _pg_amcheck(url: str) -> None:
    from ops.embedded import bin_dir

    cmd = [str(bin_dir() / "pg_amcheck"), "--heapallindexed"]
    for s in SCHEMAS:
        cmd += ["-s", s]
    cmd.append(url)  # the positional dbname takes a connection string
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"pg_amcheck failed ({done.returncode}): {done.stderr or done.stdout}")


def main() -> None:
    started = time.perf_counter()
    url = _prepare(_server_url())
    print(f"# demo database ready in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as empty_home:  # no cached expected schema: a scratch build
        cold = _timed(lambda: _dbops(url, home=empty_home))
    warm = statistics.median(_timed(lambda: _dbops(url)) for _ in range(3))
    raw = statistics.median(_timed(lambda: _raw_sql_checks(url)) for _ in range(3))
    library = statistics.median(_timed(lambda: _check_in_process(url)) for _ in range(3))
    deep_args = ["--deep", "--category", "physical", *(f"--schema={s}" for s in SCHEMAS)]
    deep = statistics.median(_timed(lambda: _dbops(url, *deep_args)) for _ in range(3))
    baseline = statistics.median(_timed(lambda: _pg_amcheck(url)) for _ in range(3))
    in_process = statistics.median(_timed(lambda: _deep_in_process(url)) for _ in range(3))
    mb = _deep_bytes(url) / 1e6
    print(f"# dbops check wall time: {warm:.2f} s warm, {cold:.2f} s cold (target < 2 s)")
    print(f"# the same run in-process (no interpreter start, imports warm): {library:.2f} s")
    print(f"# the check SQL through bare psycopg: {raw:.2f} s")
    print(f"# --deep: {mb / deep:.1f} MB/s over {mb:.1f} MB")
    print(f"# pg_amcheck --heapallindexed: {mb / baseline:.1f} MB/s")
    print(f"# --deep in-process (no interpreter start): {mb / in_process:.1f} MB/s")
    print(f"check_vs_raw_sql: {warm / raw:.2f}")
    print(f"check_in_process_vs_raw_sql: {library / raw:.2f}")
    print(f"deep_mb_per_s_vs_pg_amcheck: {(mb / deep) / (mb / baseline):.2f}")
    print(f"deep_in_process_mb_per_s_vs_pg_amcheck: {(mb / in_process) / (mb / baseline):.2f}")
    with psycopg.connect(_server_url(), autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(BENCH_DB)))


if __name__ == "__main__":
    main()
