"""Loader for `.sql` files with `-- key: value` header lines (the tool's own queries, checks).

Each package keeps the SQL it runs in a `sql/` folder beside its modules; `query(__name__,
"name")` loads `sql/name.sql` next to the calling module.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from psycopg import sql

_HEADER = re.compile(r"^--\s*([a-z][a-z0-9_-]*)\s*:\s*(.*?)\s*$")


@dataclass(frozen=True)
class SqlFile:
    name: str
    path: Path
    text: str
    headers: dict[str, str] = field(default_factory=dict)


def parse_headers(text: str) -> dict[str, str]:
    """The `-- key: value` lines of the leading comment block; a repeated key is joined."""
    headers: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        match = _HEADER.match(stripped)
        if match:
            key, value = match.group(1), match.group(2)
            headers[key] = f"{headers[key]} {value}" if key in headers else value
    return headers


def read_sql_file(path: Path) -> SqlFile:
    text = path.read_text(encoding="utf-8")
    return SqlFile(path.stem, path, text, parse_headers(text))


@cache
def sql_dir(owner: str) -> Path:
    """The `sql/` folder beside module or package `owner` (a dotted name such as `ops.backup`)."""
    spec = importlib.util.find_spec(owner)
    if spec is None or spec.origin is None:
        raise LookupError(f"no module {owner} to hold SQL files")
    return Path(spec.origin).parent / "sql"


@cache
def load(owner: str, name: str) -> SqlFile:
    """One of the tool's own queries: `sql/<name>.sql` beside module or package `owner`."""
    return read_sql_file(sql_dir(owner) / f"{name}.sql")


def query(owner: str, name: str) -> sql.SQL:
    return sql.SQL(load(owner, name).text)  # type: ignore[arg-type,unused-ignore]
