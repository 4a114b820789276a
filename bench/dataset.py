"""A cached full-size bench dataset: one template database per key, a fresh clone per use.

`bench_dataset(users, seed)` yields the URL of a fresh database holding the shipped schema,
the shipped row-level-security policies and the sample data of `users` users (seed `seed`),
and drops that database afterwards. The data is loaded once into a template database
`dbops_bench_data_<head>_<users>u_s<seed>_<UTC day>_<digest>` and every use clones it with
CREATE DATABASE ... TEMPLATE (a file copy, no reload). The key holds:
  - the migration head and a digest of every file the data depends on (migrations,
    policies, the generator's modules), so a changed schema or generator builds anew;
  - the UTC day of the load: the data is anchored at its load time (plan_cache entries
    expire within 24 hours of it, as `ops.sample` documents), so a template serves the
    day it was built on; templates of another day or digest are dropped as stale.
A build goes into a scratch database that is renamed only when complete, under an advisory
lock, so concurrent users wait for one build and a crashed build leaves no half template.

Prebuild (prints how long the build and a clone take):
    python -m bench.dataset --users 42500 [--seed 1]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from psycopg import sql

from bench.common import ROOT, server_url
from ops.db import Conn, connect, with_database

PREFIX = "dbops_bench_data_"
BUILD_PREFIX = "dbops_bench_build_"
CLONE_PREFIX = "dbops_bench_clone_"
LOCK_KEY = 0x62656E6368  # one advisory lock (on the server's maintenance database) for all templates


@dataclass(frozen=True)
class Template:
    name: str
    built: bool  # False: it existed already
    build_seconds: float
    stale_dropped: tuple[str, ...]


def _inputs() -> list[Path]:
    files = sorted((ROOT / "migrations").glob("*.sql")) + sorted((ROOT / "policies").glob("*.sql"))
    return files + sorted((ROOT / "ops" / "sample").glob("*.py"))


def _head() -> str:
    ids = sorted(p.name.split("_", 1)[0] for p in (ROOT / "migrations").glob("*.sql"))
    return ids[-1] if ids else "none"


def _digest() -> str:
    h = hashlib.sha256()
    for path in _inputs():
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:8]


def template_name(users: int, seed: int = 1, day: str | None = None) -> str:
    """The template's name for today's (or `day`'s, YYYYMMDD) load of the current tree."""
    day = day or datetime.now(UTC).strftime("%Y%m%d")
    return f"{PREFIX}{_head()}_{users}u_s{seed}_{day}_{_digest()}"


def _databases(admin: Conn, prefix: str) -> list[str]:
    rows = admin.execute(
        "select datname from pg_database where starts_with(datname, %s) order by 1", (prefix,)
    ).fetchall()
    return [r[0] for r in rows]


def _drop(admin: Conn, name: str) -> None:
    admin.execute(sql.SQL("alter database {} is_template false").format(sql.Identifier(name)))
    admin.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))


def _pid_alive(name: str, prefix: str) -> bool:
    """Clone and build names carry the creating process id; a dead process's ones are leftovers."""
    try:
        pid = int(name.removeprefix(prefix).split("_", 1)[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _drop_stale(admin: Conn, keep: str) -> tuple[str, ...]:
    """Templates of another day or digest, and builds and clones of processes that died."""
    day_digest = keep.rsplit("_", 2)[-2:]
    dropped = []
    for name in _databases(admin, PREFIX):
        if name != keep and name.rsplit("_", 2)[-2:] != day_digest:
            _drop(admin, name)
            dropped.append(name)
    for prefix in (BUILD_PREFIX, CLONE_PREFIX):
        for name in _databases(admin, prefix):
            if not _pid_alive(name, prefix):
                _drop(admin, name)
                dropped.append(name)
    return tuple(dropped)


def _build(server: str, name: str, users: int, seed: int) -> None:
    from ops.config import load_settings
    from ops.deploy import deploy
    from ops.sample import load_sample_data

    scratch = f"{BUILD_PREFIX}{os.getpid()}_{secrets.token_hex(3)}"
    with connect(server) as admin:
        admin.execute(sql.SQL("create database {} template template0").format(sql.Identifier(scratch)))
    try:
        url = with_database(server, scratch)
        settings = load_settings({"database_url": url}, {}, ROOT)
        with connect(url) as conn:
            deploy(conn, settings)
            load_sample_data(conn, users, seed=seed, anchor=datetime.now(UTC))
            conn.execute("vacuum")  # hint bits and visibility map set once, in the template
        with connect(server) as admin:
            admin.execute(
                sql.SQL("alter database {} rename to {}").format(
                    sql.Identifier(scratch), sql.Identifier(name)
                )
            )
            admin.execute(sql.SQL("alter database {} is_template true").format(sql.Identifier(name)))
    except BaseException:
        with connect(server) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(scratch)))
        raise


def ensure_template(users: int, seed: int = 1, *, server: str | None = None) -> Template:
    """Build today's template for (users, seed) unless it exists; drop stale ones."""
    server = server or server_url()
    name = template_name(users, seed)
    with connect(server) as admin:
        admin.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            stale = _drop_stale(admin, name)
            if name in _databases(admin, name):
                return Template(name, False, 0.0, stale)
            started = time.perf_counter()
            _build(server, name, users, seed)
            return Template(name, True, time.perf_counter() - started, stale)
        finally:
            admin.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))


def clone(server: str, template: str) -> str:
    """A new database copied from `template` (file copy: fast for a large template); its name."""
    name = f"{CLONE_PREFIX}{os.getpid()}_{secrets.token_hex(3)}"
    with connect(server) as admin:
        admin.execute(
            sql.SQL("create database {} template {} strategy file_copy").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return name


@contextmanager
def bench_dataset(users: int, seed: int = 1, *, server: str | None = None) -> Iterator[str]:
    """The URL of a fresh clone of the (users, seed) dataset, dropped afterwards."""
    server = server or server_url()
    template = ensure_template(users, seed, server=server)
    name = clone(server, template.name)
    try:
        yield with_database(server, name)
    finally:
        with connect(server) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description="Build (once) and time the cached bench dataset.")
    parser.add_argument("--users", type=int, default=42500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    server = server_url()
    template = ensure_template(args.users, args.seed, server=server)
    verb = "built" if template.built else "found"
    print(
        f"# {verb} {template.name} in {template.build_seconds:.1f} s; dropped stale: {template.stale_dropped}"
    )
    started = time.perf_counter()
    with bench_dataset(args.users, args.seed, server=server) as url, connect(url) as conn:
        cloned = time.perf_counter() - started
        counts = conn.execute(
            "select (select count(*) from quizzes), (select count(*) from tutor_chats),"
            " pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()
    print(f"# clone in {cloned:.1f} s: {counts}")


if __name__ == "__main__":
    main()
