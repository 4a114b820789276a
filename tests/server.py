"""The test server: TEST_DATABASE_URL, else the embedded server under .dbops/test."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
TEST_SERVER_HOME = ROOT / ".dbops" / "test"


@dataclass(frozen=True)
class TestServer:
    host: str
    port: int
    user: str
    password: str | None
    embedded: bool

    def url(self, dbname: str) -> str:
        return make_conninfo(
            "", host=self.host, port=self.port, user=self.user, password=self.password, dbname=dbname
        )


def start_test_server() -> TestServer:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        parts = conninfo_to_dict(external)
        return TestServer(
            str(parts.get("host") or "localhost"),
            int(parts.get("port") or 5432),
            str(parts.get("user") or "postgres"),
            str(parts["password"]) if parts.get("password") else None,
            False,
        )
    from ops import embedded

    url = embedded.ensure_running(TEST_SERVER_HOME)
    parts = conninfo_to_dict(url)
    server = TestServer(str(parts["host"]), int(parts.get("port") or 5432), str(parts["user"]), None, True)
    try:
        psycopg.connect(server.url("postgres"), connect_timeout=5).close()
    except psycopg.OperationalError as exc:  # stop at once: nothing can pass without it
        raise SystemExit(f"test server unreachable: {exc}") from exc
    return server


@contextmanager
def server_folder(prefix: str, mode: int = 0o711) -> Iterator[Path]:
    """A fresh folder under /tmp for a server of a test's own, removed afterwards.

    Not under pytest's tmp_path: every pytest session started as root on the machine resets
    /tmp/pytest-of-root to 0700, which locks the server's system user out of its own data
    directory at a random moment (seen: the server PANICs on pg_control, permission denied).
    """
    base = Path(tempfile.mkdtemp(prefix=f"dbops-{prefix}-"))
    base.chmod(mode)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _migration_ids() -> list[str]:
    return sorted(
        p.name.removesuffix(".sql")
        for p in (ROOT / "migrations").glob("*.sql")
        if not p.name.endswith(".rollback.sql")
    )


# the shipped migrations: tests say "every migration" without a count to keep up to date
MIGRATION_IDS = _migration_ids()
HEAD = MIGRATION_IDS[-1]
MIGRATION_COUNT = len(MIGRATION_IDS)
