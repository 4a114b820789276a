"""Configuration precedence and the pure helpers of config and db (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.config import load_settings
from ops.db import describe, redact
from ops.errors import ConfigError
from ops.vocabulary import duration_ms


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dbops]\nmigrations_dir = "from_file"\nlock_timeout = "2s"\nlock_retries = 7\n'
    )
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_file_beats_default_and_is_relative_to_the_project(tree: Path) -> None:
    s = load_settings({}, {}, tree / "sub")
    assert s.project_root == tree
    assert s.migrations_dir == tree / "from_file"
    assert s.policies_dir == tree / "policies"
    assert s.lock_timeout_ms == 2000
    assert s.lock_retries == 7


def test_env_beats_file(tree: Path) -> None:
    s = load_settings({}, {"DBOPS_MIGRATIONS_DIR": "from_env", "DBOPS_LOCK_TIMEOUT": "250ms"}, tree)
    assert s.migrations_dir == tree / "from_env"
    assert s.lock_timeout_ms == 250


def test_flag_beats_env(tree: Path) -> None:
    s = load_settings(
        {"migrations_dir": "from_flag", "lock_timeout": "1min"},
        {"DBOPS_MIGRATIONS_DIR": "from_env", "DBOPS_LOCK_TIMEOUT": "250ms"},
        tree,
    )
    assert s.migrations_dir == tree / "from_flag"
    assert s.lock_timeout_ms == 60_000


def test_database_url_precedence(tree: Path) -> None:
    flag = load_settings({"database_url": "postgresql:///a"}, {"DATABASE_URL": "postgresql:///b"}, tree)
    assert (flag.database_url, flag.database_url_source) == ("postgresql:///a", "--database-url")
    env = load_settings({}, {"DATABASE_URL": "postgresql:///b", "PGHOST": "x"}, tree)
    assert (env.database_url, env.database_url_source) == ("postgresql:///b", "DATABASE_URL")
    libpq = load_settings({}, {"PGHOST": "x"}, tree)
    assert (libpq.database_url, libpq.database_url_source) == (None, "libpq")
    embedded = load_settings({}, {}, tree)
    assert (embedded.database_url, embedded.database_url_source) == (None, "embedded")
    assert embedded.dbops_home == tree / ".dbops"
    assert load_settings({}, {"DBOPS_HOME": str(tree / "h")}, tree).dbops_home == tree / "h"


def test_bad_values_are_configuration_errors(tree: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read 'soon' as a duration"):
        load_settings({"lock_timeout": "soon"}, {}, tree)
    for forever in ("0", "0s", "0ms"):  # PostgreSQL's 'wait for ever': DDL queued behind the app
        with pytest.raises(ConfigError, match="lock_timeout must be more than 0"):
            load_settings({"lock_timeout": forever}, {}, tree)
    (tree / "pyproject.toml").write_text("[tool.dbops\n")
    with pytest.raises(ConfigError, match="pyproject.toml"):
        load_settings({}, {}, tree)


@pytest.mark.parametrize(
    ("text", "ms"), [("5s", 5000), ("250ms", 250), ("2min", 120_000), ("1h", 3_600_000), ("1.5", 1500)]
)
def test_parse_duration(text: str, ms: int) -> None:
    assert duration_ms(text, "x") == ms


def test_redact_hides_passwords_everywhere() -> None:
    assert redact("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert redact("host=db password=s3cret user=bob") == "host=db password=*** user=bob"
    assert redact("failed for s3cret", "s3cret") == "failed for ***"
    assert redact("postgresql://bob@db/x") == "postgresql://bob@db/x"
    assert "s3cret" not in describe("postgresql://bob:s3cret@db:6543/x")
    assert describe("postgresql://bob:s3cret@db:6543/x") == "bob@db:6543/x"
