"""A backup's folder and its `manifest.json`: what was dumped, from where, and how to prove it.

A backup is a folder `<UTC timestamp>_<database>/` under the backup directory holding the
dump (`dump.pgdump`, or `dump/` for the directory format) and `manifest.json`. A backup
being written lives in a hidden `.<id>.partial/` folder and gets its name only when it is
complete, so a folder with a readable manifest is a finished backup.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ops.errors import ConfigError, Corruption

MANIFEST = "manifest.json"
OWNER = ".owner"
PARTIAL_SUFFIX = ".partial"
MANIFEST_VERSION = 1


DumpFormat = Literal["custom", "directory"]


@dataclass(frozen=True)
class FileSum:
    path: str  # relative to the backup folder, '/'-separated
    sha256: str
    size: int


@dataclass(frozen=True)
class Verification:
    at: str
    restore: bool  # True: restored into a scratch database and compared; False: checksums only
    ok: bool
    problems: tuple[str, ...] = ()
    checks: str = ""
    duration_s: float = 0.0
    server_version: str = ""


@dataclass(frozen=True)
class Manifest:
    id: str
    database: str
    started_at: str  # UTC, ISO 8601
    finished_at: str
    duration_s: float
    dbops_version: str
    pg_dump_version: str
    server_version: str
    server_version_num: int
    dump_format: DumpFormat
    jobs: int
    compression: str
    compression_reason: str
    compression_sample: Mapping[str, Any]
    migrations_applied: tuple[str, ...]
    migration_head: str | None
    row_counts: Mapping[str, int]
    files: tuple[FileSum, ...]
    toc_entries: int
    verifications: tuple[Verification, ...] = ()
    manifest_version: int = MANIFEST_VERSION

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def dump_path(self) -> str:
        return "dump.pgdump" if self.dump_format == "custom" else "dump"

    @property
    def verified(self) -> bool:
        """Proven by a restore: the newest restore verification passed."""
        restores = [v for v in self.verifications if v.restore]
        return bool(restores) and restores[-1].ok

    @property
    def started(self) -> datetime:
        return datetime.fromisoformat(self.started_at)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["size"] = self.size
        data["verified"] = self.verified
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["files"] = tuple(FileSum(**f) for f in data.get("files", ()))
        known["verifications"] = tuple(
            Verification(**{**v, "problems": tuple(v.get("problems", ()))})
            for v in data.get("verifications", ())
        )
        known["migrations_applied"] = tuple(data.get("migrations_applied", ()))
        known["compression_sample"] = dict(data.get("compression_sample", {}))
        known["row_counts"] = dict(data.get("row_counts", {}))
        return cls(**known)


@dataclass(frozen=True)
class Backup:
    """A finished backup in the backup directory."""

    id: str
    path: Path
    manifest: Manifest


@dataclass(frozen=True)
class Listing:
    backups: tuple[Backup, ...]
    in_progress: tuple[str, ...] = ()
    unreadable: tuple[str, ...] = field(default=())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def dump_files(folder: Path) -> list[Path]:
    """Every file of a backup folder except the manifest and dbops' own bookkeeping."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.name not in (MANIFEST, OWNER, MANIFEST + ".tmp")
    )


def checksum_files(folder: Path) -> tuple[FileSum, ...]:
    return tuple(
        FileSum(p.relative_to(folder).as_posix(), sha256_file(p), p.stat().st_size)
        for p in dump_files(folder)
    )


PRIVATE_DIR = 0o700  # a backup holds every user's data: only its owner reads it
PRIVATE_FILE = 0o600


def make_private(folder: Path) -> None:
    """Folders 0700 and files 0600 from `folder` down, whatever the umask made them."""
    folder.chmod(PRIVATE_DIR)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), PRIVATE_DIR)
        for name in files:
            os.chmod(os.path.join(root, name), PRIVATE_FILE)


def private_dir(path: Path) -> None:
    """Create `path` (and missing parents) 0700; an existing folder keeps its mode."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    for created in missing:
        created.chmod(PRIVATE_DIR)


def write_private(path: Path, text: str) -> None:
    """Write `path` as a 0600 file (created so, never readable by others in between)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Atomically: a reader sees the old manifest or the new one, never half of one."""
    tmp = folder / (MANIFEST + ".tmp")
    write_private(tmp, json.dumps(manifest.to_dict(), indent=2, sort_keys=False) + "\n")
    tmp.replace(folder / MANIFEST)
    fsync_dir(folder)


def read_manifest(folder: Path) -> Manifest:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return Manifest.from_dict(data)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{folder} has no {MANIFEST}: not a dbops backup", "see `dbops backup list`"
        ) from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise Corruption(
            f"{folder / MANIFEST} cannot be read: {exc}", "the manifest is damaged; take a new backup"
        ) from exc


def list_backups(backup_dir: Path) -> Listing:
    """Finished backups oldest first, plus the names of partial and unreadable folders."""
    if not backup_dir.is_dir():
        return Listing(())
    backups: list[Backup] = []
    partial: list[str] = []
    unreadable: list[str] = []
    for entry in sorted(backup_dir.iterdir()):
        if not entry.is_dir():
            continue
        if entry.name.startswith("."):
            if entry.name.endswith(PARTIAL_SUFFIX):
                partial.append(entry.name)
            continue
        if not (entry / MANIFEST).is_file():
            unreadable.append(entry.name)
            continue
        try:
            backups.append(Backup(entry.name, entry, read_manifest(entry)))
        except (ConfigError, Corruption):
            unreadable.append(entry.name)
    backups.sort(key=lambda b: (b.manifest.started_at, b.id))
    return Listing(tuple(backups), tuple(partial), tuple(unreadable))


def find_backup(backup_dir: Path, backup_id: str) -> Backup:
    """The backup of that id; `latest` is the newest finished one."""
    if backup_id == "latest":
        finished = list_backups(backup_dir).backups
        if not finished:
            raise ConfigError(f"no backups in {backup_dir}", "take one with `dbops backup`")
        return finished[-1]
    folder = backup_dir / backup_id
    if backup_id.startswith(".") or "/" in backup_id or not (folder / MANIFEST).is_file():
        known = [b.id for b in list_backups(backup_dir).backups]
        raise ConfigError(
            f"no backup {backup_id!r} in {backup_dir}",
            "see `dbops backup list`"
            + (f" (newest: {known[-1]})" if known else "; take one with `dbops backup`"),
        )
    return Backup(backup_id, folder, read_manifest(folder))


def record_verification(backup: Backup, verification: Verification) -> Manifest:
    manifest = replace(backup.manifest, verifications=(*backup.manifest.verifications, verification))
    write_manifest(backup.path, manifest)
    return manifest


def table_name(schema: str, table: str) -> str:
    return f"{schema}.{table}"


def count_differences(expected: Mapping[str, int], found: Mapping[str, int]) -> list[str]:
    problems = []
    for name in sorted(set(expected) | set(found)):
        want, got = expected.get(name), found.get(name)
        if want != got:
            problems.append(
                f"{name}: {'missing' if got is None else got} rows restored, "
                f"{'none' if want is None else want} in the manifest"
            )
    return problems


def ids(backups: Iterable[Backup]) -> list[str]:
    return [b.id for b in backups]
