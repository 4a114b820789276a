"""Loader for `.sql` files with `-- key: value` header lines (the tool's own queries, checks)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from psycopg import sql

_HEADER = re.compile(r"^--\s*([a-z][a-z0-9_-]*)\s*:\s*(.*?)\s*$")
QUERY_DIR = Path(__file__).parent / "sql"


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
def load(name: str) -> SqlFile:
    """One of the tool's own queries, `ops/sql/<name>.sql`."""
    return read_sql_file(QUERY_DIR / f"{name}.sql")


def query(name: str) -> sql.SQL:
    return sql.SQL(load(name).text)  # type: ignore[arg-type,unused-ignore]
