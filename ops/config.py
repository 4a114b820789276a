"""Settings with one precedence everywhere: flag > env `DBOPS_*` > `[tool.dbops]` > default.

The loader takes the environment and the starting directory as arguments, so tests pass
their own instead of patching globals.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.errors import ConfigError
from ops.vocabulary import duration_ms, duration_s

DEFAULTS: dict[str, Any] = {
    "migrations_dir": "migrations",
    "policies_dir": "policies",
    "checks_dir": "checks",
    "lock_wait": None,  # per job family: see ops.locks.DEFAULT_WAIT
    "lock_timeout": "5s",
    "lock_retries": 3,
}
_PATH_KEYS = ("migrations_dir", "policies_dir", "checks_dir")


@dataclass(frozen=True)
class Settings:
    project_root: Path
    dbops_home: Path
    database_url: str | None
    database_url_source: str
    migrations_dir: Path
    policies_dir: Path
    checks_dir: Path
    lock_wait: float | None
    lock_timeout_ms: int
    lock_retries: int
    json: bool = False
    verbosity: int = 0
    tool: Mapping[str, Any] = field(default_factory=dict)

    def display_path(self, path: Path) -> str:
        """`path` relative to the project when inside it, as messages show files."""
        try:
            return str(path.relative_to(self.project_root))
        except ValueError:
            return str(path)


def find_project_root(start: Path) -> Path:
    """The nearest directory at or above `start` holding a pyproject.toml, else `start`."""
    for candidate in (start, *start.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    return start


def read_tool_table(project_root: Path) -> dict[str, Any]:
    path = project_root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}", "fix the TOML syntax of pyproject.toml") from exc
    table = data.get("tool", {}).get("dbops", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.dbops] must be a table", "see README, Configuration")
    return table


def _pick(
    key: str, flags: Mapping[str, Any], env: Mapping[str, str], file: Mapping[str, Any]
) -> tuple[Any, str]:
    if flags.get(key) is not None:
        return flags[key], "flag"
    env_key = "DBOPS_" + key.upper()
    if env.get(env_key):
        return env[env_key], "env"
    if key in file:
        return file[key], "file"
    return DEFAULTS.get(key), "default"


def load_settings(flags: Mapping[str, Any], env: Mapping[str, str], cwd: Path) -> Settings:
    project_root = find_project_root(cwd)
    file = read_tool_table(project_root)

    def path_of(key: str) -> Path:
        value, source = _pick(key, flags, env, file)
        base = project_root if source in ("file", "default") else cwd
        return (base / str(value)).resolve()

    url, url_source = flags.get("database_url"), "--database-url"
    if not url:
        for name in ("DATABASE_URL", "DBOPS_DATABASE_URL"):
            if env.get(name):
                url, url_source = env[name], name
                break
        else:
            url_source = "libpq" if _libpq_configured(env) else "embedded"

    lock_wait_raw, _ = _pick("lock_wait", flags, env, file)
    lock_wait = None
    if lock_wait_raw is not None:
        lock_wait = duration_s(lock_wait_raw, "lock_wait")
    retries_raw, _ = _pick("lock_retries", flags, env, file)
    try:
        lock_retries = int(retries_raw)
    except ValueError as exc:
        raise ConfigError(f"lock_retries: {retries_raw!r} is not a number", "use an integer") from exc

    home = env.get("DBOPS_HOME")
    return Settings(
        project_root=project_root,
        dbops_home=Path(home).resolve() if home else project_root / ".dbops",
        database_url=url or None,
        database_url_source=url_source,
        migrations_dir=path_of("migrations_dir"),
        policies_dir=path_of("policies_dir"),
        checks_dir=path_of("checks_dir"),
        lock_wait=lock_wait,
        lock_timeout_ms=duration_ms(_pick("lock_timeout", flags, env, file)[0], "lock_timeout"),
        lock_retries=lock_retries,
        json=bool(flags.get("json")),
        verbosity=int(flags.get("verbosity") or 0),
        tool=file,
    )


def _libpq_configured(env: Mapping[str, str]) -> bool:
    return any(env.get(name) for name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"))
