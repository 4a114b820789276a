"""One server per test session, a template migrated once, a clone per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from pytest_postgresql import factories

from ops.cli import cli
from ops.config import Settings, load_settings
from ops.db import Conn
from tests.server import ROOT, start_test_server

SERVER = start_test_server()


def _migrate_template(host: str, port: int, user: str, dbname: str, password: str | None, **_: Any) -> None:
    from ops import migrations, policies

    url = SERVER.url(dbname)
    settings = settings_for(url)
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn, settings, after=lambda c: policies.apply_changed(c, settings))


postgresql_migrated_proc = factories.postgresql_noproc(
    host=SERVER.host,
    port=SERVER.port,
    user=SERVER.user,
    password=SERVER.password,
    dbname="dbops_test",
    load=[_migrate_template],
)
postgresql_empty_proc = factories.postgresql_noproc(
    host=SERVER.host,
    port=SERVER.port,
    user=SERVER.user,
    password=SERVER.password,
    dbname="dbops_empty",
)
postgresql_migrated = factories.postgresql("postgresql_migrated_proc")
postgresql_empty = factories.postgresql("postgresql_empty_proc")


def settings_for(url: str, **flags: Any) -> Settings:
    """Settings of the project's own tree against `url`, with flag overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBOPS_", "PG"))}
    env.pop("DATABASE_URL", None)
    return load_settings({"database_url": url, **flags}, env, ROOT)


@dataclass
class Database:
    """A test's own database: its URL and an autocommit connection to it."""

    url: str
    conn: Conn

    def settings(self, **flags: Any) -> Settings:
        return settings_for(self.url, **flags)

    def scalar(self, query: str, params: Any = None) -> Any:
        row = self.conn.execute(query, params).fetchone()  # type: ignore[arg-type]
        return None if row is None else row[0]


def _database(conn: Conn) -> Iterator[Database]:
    conn.autocommit = True
    yield Database(SERVER.url(conn.info.dbname), conn)


@pytest.fixture
def db(postgresql_migrated: Conn) -> Iterator[Database]:
    """A database at the head of the shipped migrations."""
    yield from _database(postgresql_migrated)


@pytest.fixture
def empty_db(postgresql_empty: Conn) -> Iterator[Database]:
    """An empty database (no migrations applied)."""
    yield from _database(postgresql_empty)


@pytest.fixture
def run_cli() -> Any:
    """Invoke `dbops` in-process; global options first, as on the command line."""

    def run(
        *args: str, url: str | None = None, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        argv = (["--database-url", url] if url else []) + list(args)
        return CliRunner().invoke(cli, argv, input=input, env=env, catch_exceptions=False)

    return run


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped migrations in a scratch project, free to edit."""
    import shutil

    (tmp_path / "pyproject.toml").write_text("[tool.dbops]\n")
    shutil.copytree(ROOT / "migrations", tmp_path / "migrations")
    return tmp_path
