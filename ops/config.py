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
    "pooled": None,  # None: dbops checks that it talks to the server directly
}


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
    # True: the URL goes through a transaction-mode pooler (PgBouncer); False: direct (or a
    # session-mode proxy), not checked; None: checked on connect (see ops.db.check_direct)
    pooled: bool | None = None
    project_found: bool = True  # a pyproject.toml with [tool.dbops] (found, or --project/DBOPS_PROJECT)
    home_explicit: bool = False  # DBOPS_HOME names the embedded server's folder

    @property
    def target_unknown(self) -> bool:
        """No project, no URL, no DBOPS_HOME: nothing says which server to talk to."""
        return not self.project_found and self.database_url_source == "embedded" and not self.home_explicit

    def require_target(self, cwd: Path) -> None:
        """Refuse (exit 2) rather than start a fresh embedded server in a stray folder."""
        if self.target_unknown:
            raise ConfigError(
                f"no dbops project in {cwd} or above (no pyproject.toml with [tool.dbops]) "
                "and no database URL",
                "run dbops in the project folder, pass --project DIR (or DBOPS_PROJECT), "
                "or give --database-url / DATABASE_URL",
            )

    def display_path(self, path: Path) -> str:
        """`path` relative to the project when inside it, as messages show files."""
        try:
            return str(path.relative_to(self.project_root))
        except ValueError:
            return str(path)


def is_project(directory: Path) -> bool:
    """Does `directory` hold a pyproject.toml with a [tool.dbops] table?"""
    path = directory / "pyproject.toml"
    if not path.is_file():
        return False
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return "[tool.dbops" in path.read_bytes().decode("utf-8", "replace")  # read_tool_table says why
    tool = data.get("tool")
    return isinstance(tool, dict) and "dbops" in tool


def find_project_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` whose pyproject.toml has [tool.dbops]."""
    for candidate in (start, *start.parents):
        if is_project(candidate):
            return candidate
    return None


def _project(flags: Mapping[str, Any], env: Mapping[str, str], cwd: Path) -> tuple[Path, bool]:
    """The project root and whether it is one: --project > DBOPS_PROJECT > walking up from `cwd`."""
    for name, value in (("--project", flags.get("project")), ("DBOPS_PROJECT", env.get("DBOPS_PROJECT"))):
        if value:
            root = (cwd / str(value)).resolve()
            if not is_project(root):
                raise ConfigError(
                    f"{name} {root}: no pyproject.toml with [tool.dbops] there",
                    "point it at the folder whose pyproject.toml has a [tool.dbops] table",
                )
            return root, True
    found = find_project_root(cwd)
    if found is not None:
        return found, True
    # no project: files are still shown relative to the nearest pyproject.toml (lint needs no project)
    nearest = next((c for c in (cwd, *cwd.parents) if (c / "pyproject.toml").is_file()), cwd)
    return nearest, False


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


def _typed(value: Any, key: str, kind: type, expected: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise ConfigError(
            f"{key}: expected {expected}, got {value!r} ({type(value).__name__})",
            f"fix {key} in [tool.dbops] (pyproject.toml) or the DBOPS_{key.upper()} variable",
        )
    return value


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
    project_root, project_found = _project(flags, env, cwd)
    file = read_tool_table(project_root) if project_found else {}

    def path_of(key: str) -> Path:
        value, source = _pick(key, flags, env, file)
        _typed(value, key, str, "a directory path (a string)")
        base = project_root if source in ("file", "default") else cwd
        return (base / str(value)).resolve()

    url, url_source = flags.get("database_url"), "--database-url"
    if flags.get("direct_url"):
        url, url_source = flags["direct_url"], "--direct-url"
    elif env.get("DBOPS_DIRECT_URL"):
        url, url_source = env["DBOPS_DIRECT_URL"], "DBOPS_DIRECT_URL"
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
        lock_retries = int(_typed(retries_raw, "lock_retries", int | str, "an integer from 0 to 100"))  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(f"lock_retries: {retries_raw!r} is not a number", "use an integer") from exc
    if not 0 <= lock_retries <= 100:
        raise ConfigError(f"lock_retries: expected an integer from 0 to 100, got {lock_retries}", "use 3")

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
        lock_timeout_ms=_lock_timeout_ms(_pick("lock_timeout", flags, env, file)[0]),
        lock_retries=lock_retries,
        json=bool(flags.get("json")),
        verbosity=int(flags.get("verbosity") or 0),
        tool=file,
        pooled=parse_flag(_pick("pooled", flags, env, file)[0], "pooled"),
        project_found=project_found,
        home_explicit=bool(home),
    )


def parse_flag(value: Any, name: str) -> bool | None:
    """true/false, yes/no, on/off, 1/0 (TOML booleans too); None stays None."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: cannot read {value!r} as true or false", f"write {name} = true or false")


def _libpq_configured(env: Mapping[str, str]) -> bool:
    return any(env.get(name) for name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"))


def setting(
    settings: Settings, key: str, flag: str | None, env: Mapping[str, str], default: str | None
) -> tuple[str | None, Path]:
    """flag > env DBOPS_<KEY> > [tool.dbops] key > default, with the base a relative path is read from."""
    if flag:
        return flag, Path.cwd()
    env_value = env.get("DBOPS_" + key.upper())
    if env_value:
        return env_value, Path.cwd()
    if key in settings.tool:
        return str(settings.tool[key]), settings.project_root
    return default, settings.project_root


def path_setting(
    settings: Settings, key: str, flag: str | None, env: Mapping[str, str], default: str | None
) -> Path | None:
    value, base = setting(settings, key, flag, env, default)
    return None if value is None else (base / value).resolve()


def _lock_timeout_ms(value: object) -> int:
    """lock_timeout for DDL: 0 is PostgreSQL's 'wait for ever', behind every lock the
    application holds, with every later query queued behind the DDL: refused."""
    ms = duration_ms(value, "lock_timeout")
    if ms <= 0:
        raise ConfigError(
            f"lock_timeout must be more than 0 (got {value}): 0 lets DDL wait for ever", "use e.g. 5s"
        )
    return ms
