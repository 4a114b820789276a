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
from psycopg import sql
from pytest_postgresql import factories

from ops.cli import cli
from ops.config import Settings, load_settings
from ops.db import Conn
from tests.server import ROOT, TEST_SERVER_HOME, server_folder, start_test_server

SERVER = start_test_server()
# what dbops keeps next to a project (the checks' schema cache) goes under the test server's
# folder, not into the checkout: for the in-process CLI and for settings_for()
DBOPS_HOME = str(TEST_SERVER_HOME / "home")
os.environ["DBOPS_HOME"] = DBOPS_HOME
# set to keep the embedded test server running after the session (it stops by default)
KEEP_SERVER_ENV = "DBOPS_TEST_KEEP_SERVER"


def _roles() -> set[str]:
    with psycopg.connect(SERVER.url("postgres"), autocommit=True) as conn:
        return {r[0] for r in conn.execute("select rolname from pg_roles").fetchall()}


def _drop_roles(names: set[str]) -> None:
    """Drop roles and what they own or were granted, in every database that is left."""
    if not names:
        return
    roles = sql.SQL(", ").join(sql.Identifier(n) for n in sorted(names))
    with psycopg.connect(SERVER.url("postgres"), autocommit=True) as conn:
        databases = [r[0] for r in conn.execute("select datname from pg_database where datallowconn")]
    for name in databases:
        with psycopg.connect(SERVER.url(name), autocommit=True) as conn:
            conn.execute(sql.SQL("drop owned by {}").format(roles))
    with psycopg.connect(SERVER.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop role {}").format(roles))


# written by the tools that run the tests, not by the tests: the venv, caches (hypothesis
# keeps its own, with a .gitignore), the test server
_TOOL_PATHS = (
    ".venv/", ".dbops/test/", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/", ".hypothesis/", "build/",
)  # fmt: skip


def _checkout_files() -> set[str] | None:
    """Untracked and ignored paths in the checkout (None: not a git checkout)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "-z"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    paths = {entry[3:] for entry in out.split("\0") if entry[:2] in ("??", "!!")}
    return {
        p for p in paths
        if not p.startswith(_TOOL_PATHS) and "__pycache__/" not in p and ".egg-info/" not in p
    }  # fmt: skip


@pytest.fixture(scope="session", autouse=True)
def _leave_nothing_running() -> Iterator[None]:
    """After the session: the roles the tests created are gone, no test wrote into the
    checkout, and the embedded test server is stopped unless DBOPS_TEST_KEEP_SERVER is set
    (a TEST_DATABASE_URL server is never stopped). The next session starts it again."""
    before, files = _roles(), _checkout_files()
    yield
    try:
        _drop_roles({r for r in _roles() - before if r.startswith("dbops_")})
    finally:
        if SERVER.embedded and not os.environ.get(KEEP_SERVER_ENV):
            from ops import embedded

            embedded.stop(TEST_SERVER_HOME)
    after = _checkout_files()
    if files is not None and after is not None:
        assert sorted(after - files) == [], "tests wrote into the checkout"


@pytest.fixture(autouse=True, scope="session")
def _lint_cache_outside_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`dbops lint` caches sqlfluff's findings under XDG_CACHE_HOME: in a test, a scratch
    folder (subprocesses inherit it), never the user's cache nor the checkout."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    os.environ.pop("DBOPS_LINT_CACHE_DIR", None)
    yield
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved


def _migrate_template(host: str, port: int, user: str, dbname: str, password: str | None, **_: Any) -> None:
    from ops.deploy import deploy

    url = SERVER.url(dbname)
    settings = settings_for(url)
    with psycopg.connect(url, autocommit=True) as conn:
        deploy(conn, settings)


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
    return load_settings({"database_url": url, **flags}, {**env, "DBOPS_HOME": DBOPS_HOME}, ROOT)


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
def server_home() -> Iterator[Path]:
    """A folder for an embedded server of the test's own (see `tests.server.server_folder`)."""
    with server_folder("server") as folder:
        yield folder


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
