"""Which database: dbops talks to a server only when it knows which one.

Outside a project (no pyproject.toml with `[tool.dbops]` at or above the working
directory, no `--project`/`DBOPS_PROJECT`) and with no URL, every verb that needs a
database exits 2 with a hint, starts no server and writes nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import clean_env
from tests.server import ROOT

JOB_VERBS = [
    ["migrate"],
    ["migrate", "--dry-run"],
    ["rollback", "--steps", "1", "--yes"],
    ["status"],
    ["mark", "0001"],
    ["unmark", "0001"],
    ["verify"],
    ["unlock"],
    ["policies", "apply"],
    ["policies", "diff"],
    ["check"],
    ["evict"],
    ["archive"],
    ["archive", "restore", "quizzes", "--since", "7d"],
    ["retention", "run"],
    ["sample-data", "--users", "1"],
    ["backup"],
    ["backup", "verify", "latest"],
    ["restore", "latest", "--target-url", "postgresql:///nowhere", "--yes"],
    ["db", "url"],
    ["db", "start"],
]


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = clean_env(HOME=str(cwd), **env)
    if "DBOPS_HOME" not in env:  # DBOPS_HOME names a server folder: these runs name none
        environment.pop("DBOPS_HOME")
    return subprocess.run(
        [sys.executable, "-m", "ops", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        check=False,
        timeout=120,
    )


def _tree(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside any project: a pyproject.toml without [tool.dbops] above it."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n', encoding="utf-8")
    (tmp_path / "cron").mkdir()
    return tmp_path / "cron"


@pytest.mark.parametrize("verb", JOB_VERBS, ids=" ".join)
def test_no_project_and_no_url_exits_2_and_starts_nothing(verb: list[str], outside: Path) -> None:
    before = _tree(outside.parent)
    result = _run(outside, *verb)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("Error: no dbops project in "), result.stderr
    assert "Hint: run dbops in the project folder, pass --project DIR (or DBOPS_PROJECT)" in result.stderr
    assert "Traceback" not in result.stderr
    assert _tree(outside.parent) == before  # no .dbops/, no backups/, no migrations/


def test_the_project_is_found_by_walking_up(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.dbops]\nmigrations_dir = 'db/migrations'\n")
    (tmp_path / "src" / "deep").mkdir(parents=True)
    result = _run(tmp_path / "src" / "deep", "--json", "db", "status")
    assert result.returncode == 0, result.stderr
    assert f'"pgdata": "{tmp_path}/.dbops/pgdata"' in result.stdout


@pytest.mark.parametrize("how", ["flag", "env"])
def test_project_flag_and_env_name_the_project(how: str, outside: Path, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.dbops]\n", encoding="utf-8")
    if how == "flag":
        result = _run(outside, "--project", str(project), "--json", "db", "status")
    else:
        result = _run(outside, "--json", "db", "status", DBOPS_PROJECT=str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'"pgdata": "{project}/.dbops/pgdata"' in result.stdout
    missing = _run(outside, "--project", str(outside), "status")
    assert missing.returncode == 2
    assert f"Error: --project {outside}: no pyproject.toml with [tool.dbops] there" in missing.stderr


def test_lint_needs_no_project(outside: Path) -> None:
    (outside / "x.sql").write_text("select 1 as one;\n", encoding="utf-8")
    result = _run(outside, "lint", "x.sql")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""


@pytest.mark.slow
def test_db_url_starts_nothing_unless_asked_and_jobs_name_the_embedded_target(
    tmp_path: Path, server_home: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.dbops]\n", encoding="utf-8")
    import shutil

    shutil.copytree(ROOT / "migrations", tmp_path / "migrations")
    home = server_home / "home"
    stopped = _run(tmp_path, "db", "url", DBOPS_HOME=str(home))
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    assert "Error: the embedded server is not running" in stopped.stderr
    assert "Hint: run `dbops db start` (or `dbops db url --start`)" in stopped.stderr
    assert not (home / "pgdata").exists()
    try:
        started = _run(tmp_path, "db", "url", "--start", DBOPS_HOME=str(home))
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        assert url.startswith("postgresql://postgres@/postgres?host=")
        assert _run(tmp_path, "db", "url", DBOPS_HOME=str(home)).stdout.strip() == url

        migrated = _run(tmp_path, "migrate", "--to", "1", DBOPS_HOME=str(home))
        assert migrated.returncode == 0, migrated.stderr
        target = f"dbops: target: the embedded server ({home / 'pgdata'}), database postgres\n"
        assert migrated.stderr.count(target) == 1, migrated.stderr
        status = _run(tmp_path, "status", DBOPS_HOME=str(home))
        assert status.returncode == 0 and "target:" not in status.stderr  # reads only: no notice
        explicit = _run(tmp_path, "migrate", "--to", "1", DATABASE_URL=url)
        assert "target:" not in explicit.stderr  # a URL the caller gave: no notice
    finally:
        _run(tmp_path, "db", "stop", DBOPS_HOME=str(home))
