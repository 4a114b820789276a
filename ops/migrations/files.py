"""Migration files on disk: yoyo's format read through yoyo, plus content checksums.

A migration is `NNNN_name.sql` (or any yoyo id, such as `0001.initial-schema.sql`) with an
optional `NNNN_name.rollback.sql`, and header comments `-- depends: ID ...` and
`-- transactional: false`. A migration without a rollback file is apply-only: it migrates,
shows in status and is verified, but cannot be rolled back (yoyo's rollbacks are optional).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ops import sqltext
from ops.errors import ConfigError
from ops.sqlfiles import parse_headers, read_text
from ops.sqltext import Statement

_ID = re.compile(r"^(\d{4})_[a-z0-9_]+$")
# the one file-name rule, for the runtime and `dbops lint`: NNNN_name.sql, NNNN_name.rollback.sql,
# or yoyo's NNNN.name.sql (groups: the number, the rollback suffix)
MIGRATION_FILE = re.compile(r"^(\d{4})[._](?:[a-z0-9][a-z0-9_.-]*?)(\.rollback)?\.sql$")
FILENAME_HINT = "rename it to NNNN_name.sql (`dbops new NAME` makes the next one)"


def filename_problem(name: str) -> str | None:
    """Why `name` is not a migration file name, or None when it is one."""
    if MIGRATION_FILE.match(name):
        return None
    return (
        f"{name} is not NNNN_name.sql or NNNN_name.rollback.sql (or yoyo's NNNN.name.sql; lowercase "
        "letters, digits, '_', '-' and '.'): dbops and yoyo will not order it"
    )


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
        return path, split_statements(read_text(path), path)

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


def transaction_control(text: str, path: Path | str = "<sql>") -> list[tuple[int, str]]:
    """(line, statement kind) of each top-level statement that begins or ends a transaction or
    a savepoint: in a transactional migration it would break all or nothing."""
    return [
        (st.line, st.transaction_control) for st in split_statements(text, path) if st.transaction_control
    ]


def check_all_or_nothing(m: MigrationFile, directions: tuple[str, ...] = ("apply", "rollback")) -> None:
    """Refuse (exit 2) a transactional migration whose file holds transaction control."""
    if not m.transactional:
        return
    for direction in directions:
        path = m.path if direction == "apply" else m.rollback_path
        if direction == "rollback" and not m.has_rollback:
            continue
        found = transaction_control(read_text(path), path)
        if found:
            line, kind = found[0]
            raise ConfigError(
                f"{path.name}:{line}: {kind} in a transactional migration: it would commit part of "
                "the migration and leave the rest unapplied",
                "remove it (dbops runs the whole file in one transaction), or split the file and "
                "mark the part that must commit `-- transactional: false`",
            )


def normalize_sql(text: str) -> str:
    """The SQL without comments and whitespace: equal for cosmetic edits (`ops.sqltext.normalize`)."""
    return sqltext.normalize(text)


def read_migration(path: Path) -> MigrationFile:
    text = read_text(path)
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
    python = sorted(p.name for p in directory.glob("*.py") if p.name != "__init__.py")
    if python:
        raise ConfigError(
            f"{directory}: Python migrations are not supported: {', '.join(python)}",
            "rewrite each as NAME.sql (and NAME.rollback.sql), or apply them with yoyo first and "
            "`dbops mark` them",
        )
    paths = sorted(directory.glob("*.sql"))
    for p in sorted(paths, key=lambda p: p.name.endswith(".rollback.sql")):  # a migration before its rollback
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


def find(files: Sequence[MigrationFile], ref: str) -> MigrationFile:
    """A migration by full id, or by a prefix of its id that only it has: its number ('0003'),
    or the start of a yoyo id ('0001.initial'). An ambiguous prefix (yoyo histories may reuse
    a number: 0001.a and 0001.b) is refused, naming the candidates."""
    exact = [f for f in files if f.id == ref]
    if exact:
        return exact[0]
    # '16' is 0016, as `--help` says: an id or a number
    prefix = ref.zfill(4) if ref.isdigit() and len(ref) < 4 else ref
    matches = [f for f in files if f.id.startswith(prefix)]
    if not matches:
        known = f"{min(f.id for f in files)[:4]} to {max(f.id for f in files)[:4]}" if files else "none"
        raise ConfigError(
            f"unknown migration {ref!r} (migrations here: {known})",
            "run `dbops status` to list migration ids",
        )
    if len(matches) > 1:
        raise ConfigError(
            f"migration {ref!r} is ambiguous: {', '.join(f.id for f in matches)}",
            "pass the full id (as `dbops status` lists it)",
        )
    return matches[0]


def chosen_note(ref: str, m: MigrationFile) -> list[str]:
    """The note saying which migration a shortened `--to` named, when it was shortened."""
    return [] if ref == m.id else [f"--to {ref}: {m.id}"]


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
