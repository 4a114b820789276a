"""Policy files on disk and running one: `policies/<table>.sql` manages `public.<table>`,
`policies/<schema>.<table>.sql` manages `<schema>.<table>`."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql

from ops.config import Settings
from ops.db import pg_error_message
from ops.errors import ConfigError, OperationFailed
from ops.migration_files import Statement, split_statements
from ops.policy_state import TableState, qualified

_FILE_STEM = re.compile(r"^(?:([a-z_][a-z0-9_]*)\.)?([a-z_][a-z0-9_]*)$")


class PolicySQLError(OperationFailed):
    """A statement of a policy file failed; the apply was rolled back. Names file and line."""

    def __init__(self, path: str, line: int, pg_message: str):
        super().__init__(
            f"{path}:{line}: {pg_message}",
            "fix the file and run `dbops policies apply` again; no live policy was changed",
        )
        self.path = path
        self.line = line
        self.pg_message = pg_message


@dataclass(frozen=True)
class PolicyFile:
    path: Path
    table: str  # schema.table
    sha256: str

    def statements(self) -> tuple[Statement, ...]:
        return _split(self.path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=256)
def _split(text: str) -> tuple[Statement, ...]:
    # `migrate`, `diff` and the tests run the same files again and again
    return tuple(split_statements(text))


def read_policy_dir(directory: Path) -> list[PolicyFile]:
    """Every policy file in `directory`, in name order."""
    if not directory.is_dir():
        raise ConfigError(
            f"policies directory not found: {directory}",
            "pass --policies-dir or set policies_dir in [tool.dbops]",
        )
    files = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_STEM.match(path.stem)
        if not match:
            raise ConfigError(
                f"{path.name}: cannot tell which table it manages",
                "name it <table>.sql (schema public) or <schema>.<table>.sql, in lowercase",
            )
        table = f"{match.group(1) or 'public'}.{match.group(2)}"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files.append(PolicyFile(path, table, digest))
    return files


def relpath(settings: Settings, path: Path) -> str:
    try:
        return str(path.relative_to(settings.project_root))
    except ValueError:
        return str(path)


def set_local_lock_timeout(conn: psycopg.Connection[Any], settings: Settings) -> None:
    conn.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(f"{settings.lock_timeout_ms}ms")))


def run_file(conn: psycopg.Connection[Any], f: PolicyFile, before: TableState, label: str) -> None:
    """Reset the table to no policies and no FORCE, then run the file's statements."""
    target = qualified(f.table)
    for p in before.policies:
        conn.execute(sql.SQL("drop policy {} on {}").format(sql.Identifier(p.name), target))
    if before.rls_forced:
        conn.execute(sql.SQL("alter table {} no force row level security").format(target))
    for st in f.statements():
        try:
            conn.execute(st.sql.encode())
        except pgerrors.LockNotAvailable:
            raise
        except psycopg.Error as exc:
            line = st.line
            position = exc.diag.statement_position
            if position and position.isdigit():
                line += st.sql[: int(position) - 1].count("\n")
            raise PolicySQLError(label, line, pg_error_message(exc)) from exc
