"""What the README promises: the embedded server's lifecycle and `make demo`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import HEAD, MIGRATION_COUNT, ROOT

pytestmark = pytest.mark.slow


def _dbops(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGHOST", "PGDATABASE")}
    return subprocess.run(
        [sys.executable, "-m", "ops", *args],
        capture_output=True,
        text=True,
        env={**env, "DBOPS_HOME": str(home)},
        check=False,
        cwd=ROOT,
    )


def test_embedded_server_lifecycle(server_home: Path) -> None:
    home = server_home / "home"
    assert json.loads(_dbops(home, "--json", "db", "status").stdout)["running"] is False
    started = _dbops(home, "--json", "db", "start")
    assert started.returncode == 0, started.stderr
    status = json.loads(started.stdout)
    assert status["running"] is True and status["url"].startswith("postgresql://postgres@/postgres?host=")
    try:
        assert _dbops(home, "db", "url").stdout.strip() == status["url"]
        migrated = _dbops(home, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        assert "applied 0012_archive_owner_indexes" in migrated.stdout
    finally:
        stopped = _dbops(home, "--json", "db", "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert json.loads(stopped.stdout)["running"] is False


def test_make_demo_ends_with_every_migration_applied(server_home: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "dbops").exists() or shutil.which("make") is None:
        pytest.skip("make demo runs the project's .venv")
    # the demo's server, metrics and backup go to the test's own folder, not the checkout
    backups = server_home / "backups"
    env = {**os.environ, "DBOPS_HOME": str(server_home / "demo"), "DBOPS_BACKUP_DIR": str(backups)}
    env.pop("DATABASE_URL", None)
    checkout_backups = sorted((ROOT / "backups").rglob("*")) if (ROOT / "backups").exists() else None
    try:
        demo = subprocess.run(
            ["make", "-s", "demo"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=600,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert f"{MIGRATION_COUNT} applied; head: {HEAD}" in demo.stdout
        # the logical backup that `backup verify latest --restore` checked, the physical base
        # backup of the PITR part, and the WAL its receiver streamed: all in the test's folder
        kinds = sorted(json.loads(m.read_text())["kind"] for m in backups.glob("*/manifest.json"))
        assert kinds == ["logical", "physical"], kinds
        assert (backups / "wal").is_dir()
    finally:
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "dbops"), "db", "stop"], env=env, capture_output=True, check=False
        )
    # the test writes nothing into the checkout
    after = sorted((ROOT / "backups").rglob("*")) if (ROOT / "backups").exists() else None
    assert after == checkout_backups
