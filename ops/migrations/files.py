"""Migration files on disk: yoyo's format read through yoyo, plus content checksums.

A migration is `NNNN_name.sql` with an optional `NNNN_name.rollback.sql`, and header
comments `-- depends: ID ...` and `-- transactional: false`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ops import sqltext
from ops.errors import ConfigError
from ops.sqlfiles import parse_headers
from ops.sqltext import Statement

_ID = re.compile(r"^(\d{4})_[a-z0-9_]+$")
# the one file-name rule, for the runtime and `dbops lint`: NNNN_name.sql, NNNN_name.rollback.sql
MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+(\.rollback)?\.sql$")
FILENAME_HINT = "rename it to NNNN_name.sql (`dbops new NAME` makes the next one)"


def filename_problem(name: str) -> str | None:
    """Why `name` is not a migration file name, or None when it is one."""
    if MIGRATION_FILE.match(name):
        return None
    return f"{name} is not NNNN_name.sql or NNNN_name.rollback.sql: dbops and yoyo will not order it"


_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class MigrationFile:
    id: str
    path: Path
    rollback_path: Path
    transactional: bool
    depends: tuple[str, ...]
    sha256: str
    normalized_sha256: str
    legacy_normalized_sha256: str  # the normaliser before PostgreSQL's lexer read the SQL

    @property
    def has_rollback(self) -> bool:
        return self.rollback_path.is_file()

    def script(self, direction: str) -> tuple[Path, list[Statement]]:
        """The file to run for `direction` ('apply' or 'rollback') and its statements."""
        path = self.path if direction == "apply" else self.rollback_path
        return path, split_statements(path.read_text(encoding="utf-8"), path)

    def matches_recorded(self, recorded_normalized_sha256: str | None) -> bool:
        """Whether a recorded comment-free checksum is this file's, by either normaliser."""
        return recorded_normalized_sha256 in (self.normalized_sha256, self.legacy_normalized_sha256)


def split_statements(text: str, path: Path | str = "<sql>") -> list[Statement]:
    """Statements with the line each starts on, so errors can name file and line.

    A file that PostgreSQL's lexer cannot read (an unterminated string, quoted name or
    comment) is refused before any of it runs.
    """
    try:
        return sqltext.split(text)
    except sqltext.ScanError as exc:
        line = text.count("\n", 0, exc.offset) + 1
        raise ConfigError(f"{path}:{line}: {exc}", "close the string, quoted name or comment") from exc


def normalize_sql(text: str) -> str:
    """The SQL without comments and whitespace: equal for cosmetic edits (`ops.sqltext.normalize`)."""
    return sqltext.normalize(text)


def read_migration(path: Path) -> MigrationFile:
    text = path.read_text(encoding="utf-8")
    headers = parse_headers(text)
    transactional = headers.get("transactional", "true").strip().lower() != "false"
    return MigrationFile(
        id=path.stem,
        path=path,
        rollback_path=path.with_name(path.stem + ".rollback.sql"),
        transactional=transactional,
        depends=tuple(headers.get("depends", "").split()),
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        normalized_sha256=hashlib.sha256(normalize_sql(text).encode()).hexdigest(),
        legacy_normalized_sha256=hashlib.sha256(sqltext.legacy_normalize(text).encode()).hexdigest(),
    )


def read_migration_dir(directory: Path) -> list[MigrationFile]:
    """Every migration in `directory`, in dependency order (yoyo's topological sort)."""
    if not directory.is_dir():
        raise ConfigError(
            f"migrations directory not found: {directory}",
            "pass --migrations-dir or set migrations_dir in [tool.dbops]",
        )
    paths = sorted(directory.glob("*.sql"))
    for p in paths:
        problem = filename_problem(p.name)
        if problem:
            raise ConfigError(f"{directory.name}/{p.name}: {problem}", FILENAME_HINT)
    files = {p.stem: read_migration(p) for p in paths if not p.name.endswith(".rollback.sql")}
    for f in files.values():
        for dep in f.depends:
            if dep not in files:
                raise ConfigError(
                    f"{f.path.name}: depends on unknown migration {dep}", "fix its `-- depends:` line"
                )
    # yoyo's topological sort over our parsed headers: yoyo's own reader would parse every
    # file (and its rollback) again with sqlparse, which costs more than applying them.
    from yoyo.topologicalsort import CycleError, topological_sort

    graph = {mid: {files[d].id for d in f.depends} for mid, f in files.items()}
    try:
        ordered = list(topological_sort(list(files), graph))
    except CycleError as exc:
        raise ConfigError(
            f"{directory}: circular `-- depends:` among {', '.join(exc.args[1])}",
            "remove the cycle from the `-- depends:` lines",
        ) from exc
    return [files[mid] for mid in ordered]


def find(files: list[MigrationFile], ref: str) -> MigrationFile:
    """A migration by full id or by its number ('0003', '3')."""
    number = int(ref) if ref.isdigit() else None
    matches = [f for f in files if f.id == ref or int(f.id[:4]) == number]
    if len(matches) != 1:
        known = f"{min(f.id for f in files)[:4]} to {max(f.id for f in files)[:4]}" if files else "none"
        raise ConfigError(
            f"unknown migration {ref!r} (migrations here: {known})",
            "run `dbops status` to list migration ids",
        )
    return matches[0]


def new_migration(directory: Path, name: str, *, transactional: bool = True) -> list[Path]:
    """Create the next numbered migration and its rollback; return both paths."""
    if not _NAME.match(name):
        raise ConfigError(f"invalid migration name {name!r}", "use lowercase letters, digits and underscores")
    directory.mkdir(parents=True, exist_ok=True)
    existing = sorted(p.stem for p in directory.glob("*.sql") if _ID.match(p.stem))
    number = int(existing[-1][:4]) + 1 if existing else 1
    mid = f"{number:04d}_{name}"
    headers = [f"-- depends: {existing[-1]}"] if existing else []
    if not transactional:
        headers.append("-- transactional: false")
        headers.append("-- Runs outside a transaction: every statement must be re-runnable")
        headers.append("-- (IF NOT EXISTS / IF EXISTS), e.g. CREATE INDEX CONCURRENTLY.")
    forward = directory / f"{mid}.sql"
    backward = directory / f"{mid}.rollback.sql"
    if forward.exists() or backward.exists():
        raise ConfigError(f"{forward.name} already exists", "choose another name")
    forward.write_text("\n".join([*headers, "", ""]), encoding="utf-8")
    rollback_headers = [h for h in headers if not h.startswith("-- depends")]
    backward.write_text(
        "\n".join([*rollback_headers, f"-- Undo {mid}: restore the schema exactly as before.", ""]),
        encoding="utf-8",
    )
    return [forward, backward]
