"""The cached bench dataset: built once per key, handed out as fresh clones, stale ones dropped."""

from __future__ import annotations

import pytest
from psycopg import sql

from bench.dataset import (
    CLONE_PREFIX,
    PREFIX,
    bench_dataset,
    ensure_template,
    template_name,
)
from ops.db import connect
from tests.conftest import SERVER

USERS = 30


def _databases(prefix: str) -> list[str]:
    with connect(SERVER.url("postgres")) as admin:
        rows = admin.execute(
            "select datname from pg_database where starts_with(datname, %s)", (prefix,)
        ).fetchall()
    return sorted(r[0] for r in rows)


def _create(name: str) -> None:
    with connect(SERVER.url("postgres")) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def _drop(name: str) -> None:
    with connect(SERVER.url("postgres")) as admin:
        admin.execute(sql.SQL("alter database {} is_template false").format(sql.Identifier(name)))
        admin.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def clean_server() -> None:
    for name in _databases(PREFIX):
        _drop(name)


@pytest.mark.slow
@pytest.mark.usefixtures("clean_server")
def test_template_is_built_once_and_clones_are_fresh_and_dropped() -> None:
    server = SERVER.url("postgres")
    stale = template_name(USERS, 1, day="20000101")
    _create(stale)
    other_size_today = template_name(USERS + 1, 1)
    _create(other_size_today)
    leftover_clone = f"{CLONE_PREFIX}999999999_abcdef"  # of a process that no longer exists
    _create(leftover_clone)

    first = ensure_template(USERS, 1, server=server)
    assert first.built and first.name == template_name(USERS, 1)
    assert set(first.stale_dropped) == {stale, leftover_clone}
    assert _databases(PREFIX) == sorted([first.name, other_size_today])
    again = ensure_template(USERS, 1, server=server)
    assert not again.built and again.stale_dropped == ()

    with bench_dataset(USERS, 1, server=server) as url, connect(url) as conn:
        clone = conn.info.dbname
        assert clone.startswith(CLONE_PREFIX)
        assert conn.execute("select count(*) from users").fetchone() == (USERS,)
        assert conn.execute("select count(*) from quizzes").fetchone()[0] > 0  # type: ignore[index]
        # migrated to the head, the shipped policies applied
        assert conn.execute("select count(*) from pg_policies where tablename = 'quizzes'").fetchone()[0] > 0  # type: ignore[index]
        conn.execute("delete from quizzes")
    assert clone not in _databases(CLONE_PREFIX)
    with bench_dataset(USERS, 1, server=server) as url, connect(url) as conn:
        assert conn.execute("select count(*) from quizzes").fetchone()[0] > 0  # type: ignore[index]
    assert _databases(CLONE_PREFIX) == []
    _drop(first.name)
    _drop(other_size_today)


@pytest.mark.usefixtures("clean_server")
def test_a_failed_build_leaves_no_template(monkeypatch: pytest.MonkeyPatch) -> None:
    import ops.sample

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("load failed")

    monkeypatch.setattr(ops.sample, "load_sample_data", broken)
    with pytest.raises(RuntimeError, match="load failed"):
        ensure_template(USERS, 1, server=SERVER.url("postgres"))
    assert _databases(PREFIX) == []
    assert _databases("dbops_bench_build_") == []
