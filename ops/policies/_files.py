"""Policy files on disk and running one: `policies/<table>.sql` manages `public.<table>`,
`policies/<schema>.<table>.sql` manages `<schema>.<table>`."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

from ops.db import Conn
from ops.errors import ConfigError
from ops.migrations import SQLFileError, Statement, run_statements, split_statements
from ops.policies._state import TableState, qualified
from ops.sqlfiles import read_text

_FILE_STEM = re.compile(r"^(?:([a-z_][a-z0-9_]*)\.)?([a-z_][a-z0-9_]*)$")


class PolicySQLError(SQLFileError):
    """A statement of a policy file failed; the apply was rolled back. Names file and line."""

    next_step = "fix the file and run `dbops policies apply` again; no live policy was changed"


@dataclass(frozen=True)
class PolicyFile:
    path: Path
    table: str  # schema.table
    sha256: str

    def statements(self) -> tuple[Statement, ...]:
        return _split(read_text(self.path), self.path)


@functools.lru_cache(maxsize=256)
def _split(text: str, path: Path) -> tuple[Statement, ...]:
    # `migrate`, `diff` and the tests run the same files again and again
    return tuple(split_statements(text, path))


def read_policy_dir(directory: Path) -> list[PolicyFile]:
    """Every policy file in `directory`, in name order."""
    if not directory.is_dir():
        raise ConfigError(
            f"policies directory not found: {directory}",
            "pass --policies-dir or set policies_dir in [tool.dbops]",
        )
    files = []
    # live tables before archive tables: the application's writes lock a live table and then
    # read its archive (the archived-id trigger), so taking them in the other order while
    # policies change could deadlock with them
    for path in sorted(directory.glob("*.sql"), key=lambda p: (p.name.startswith("archive."), p.name)):
        match = _FILE_STEM.match(path.stem)
        if not match:
            raise ConfigError(
                f"{path.name}: cannot tell which table it manages",
                "name it <table>.sql (schema public) or <schema>.<table>.sql, in lowercase",
            )
        table = f"{match.group(1) or 'public'}.{match.group(2)}"
        digest = hashlib.sha256(read_text(path).encode()).hexdigest()  # refuses non-UTF-8 up front
        files.append(PolicyFile(path, table, digest))
    return files


def run_file(conn: Conn, f: PolicyFile, before: TableState, label: str) -> None:
    """Reset the table to no policies and no FORCE, then run the file's statements."""
    target = qualified(f.table)
    for p in before.policies:
        conn.execute(sql.SQL("drop policy {} on {}").format(sql.Identifier(p.name), target))
    if before.rls_forced:
        conn.execute(sql.SQL("alter table {} no force row level security").format(target))
    run_statements(conn, f.statements(), label, PolicySQLError)
