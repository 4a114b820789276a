"""`dbops backup --physical [--incremental]`: a base backup with PostgreSQL's own tools.

pg_basebackup writes a plain-format copy of the cluster with its WAL (`-X stream`) and
its `backup_manifest` into the same hidden `.<id>.partial/` folder a logical backup uses;
pg_verifybackup checks it (every file against the manifest, the WAL up to consistency)
before the folder gets its id, under the same backup job lock. An incremental backup
(`--incremental`, PostgreSQL 17+ with `summarize_wal`) holds only the blocks changed
since its parent: the newest physical backup whose last verification passed.
dbops' manifest.json records the chain, the LSN range and the SHA-256 of pg_basebackup's
`backup_manifest`, which in turn holds a checksum of every file.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops import __version__
from ops.backup.dump import (
    BackupResult,
    applied_migrations,
    backup_id,
    partial_folder,
    publish,
    published_result,
    server_info,
)
from ops.backup.manifest import (
    Backup,
    FileSum,
    Listing,
    Manifest,
    PhysicalInfo,
    Restorable,
    Verification,
    list_backups,
    sha256_file,
    write_manifest,
)
from ops.backup.pg_programs import last_lines, make_private, program, run_program
from ops.backup.tools import client_env, program_version
from ops.backup.wal_files import WalListing, list_wal, missing_segments, parse_lsn, segment_name, wal_dir
from ops.db import connect, redact
from ops.errors import ConfigError, Corruption, OperationFailed
from ops.failpoints import failpoint
from ops.locks import JobFamily, job_lock

BASE = "base"  # the data directory copy inside a physical backup's folder
PG_MANIFEST = f"{BASE}/backup_manifest"
_LABEL_LINE = re.compile(r"^([A-Z ]+):\s*(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class PhysicalRequest:
    backup_dir: Path
    incremental: bool = False
    lock_wait: float | None = None


def physical_backups(backup_dir: Path) -> list[Backup]:
    return [b for b in list_backups(backup_dir).backups if b.manifest.kind == "physical"]


def incremental_parent(backup_dir: Path) -> Backup:
    """The newest physical backup whose last verification passed: what --incremental builds on."""
    good = [b for b in physical_backups(backup_dir) if b.manifest.checked]
    if not good:
        raise ConfigError(
            f"no verified physical backup in {backup_dir} to build an incremental backup on",
            "take a full one first: `dbops backup --physical`",
        )
    return good[-1]


def read_label(base: Path) -> dict[str, str]:
    text = (base / "backup_label").read_text(encoding="utf-8")
    return {m.group(1).strip(): m.group(2).strip() for m in _LABEL_LINE.finditer(text)}


def read_pg_manifest(base: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((base / "backup_manifest").read_text(encoding="utf-8"))
    return data


def run_physical_backup(conninfo: str, request: PhysicalRequest) -> BackupResult:
    with connect(conninfo) as conn:
        version, version_num = server_info(conn)
        if version_num < 170000 and request.incremental:
            raise ConfigError(f"incremental backups need PostgreSQL 17 or newer (server: {version})", None)
        with job_lock(conn, JobFamily.BACKUP, request.lock_wait):
            parent = incremental_parent(request.backup_dir) if request.incremental else None
            if parent is not None:
                row = conn.execute("show summarize_wal").fetchone()
                if not row or row[0] != "on":
                    raise ConfigError(
                        "incremental backups need summarize_wal = on", "run `dbops wal enable` first"
                    )
            applied = applied_migrations(conn)
            started = datetime.now(UTC)
            clock = time.monotonic()
            bid = backup_id(started, conn.info.dbname)
            with partial_folder(request.backup_dir, bid) as work:
                manifest = _take(conninfo, work, parent, bid, conn.info.dbname, version, version_num, applied)
                manifest = replace(manifest, duration_s=round(time.monotonic() - clock, 3))
                write_manifest(work, manifest)
                failpoint("backup_physical_before_publish")
                final = publish(work, request.backup_dir, bid)
    return published_result(request.backup_dir, bid, final, manifest)


def basebackup_command(dsn: str, target: Path, parent: Backup | None) -> list[str]:
    """The pg_basebackup run of a dbops physical backup (bench/ runs the same options bare)."""
    return [
        program("pg_basebackup"),
        "--pgdata",
        str(target),
        "--format",
        "plain",
        "--wal-method",
        "stream",
        "--checkpoint",
        "fast",
        "--no-password",
        *(["--incremental", str(parent.path / PG_MANIFEST)] if parent else []),
        "--dbname",
        dsn,
    ]


def _take(
    conninfo: str,
    work: Path,
    parent: Backup | None,
    bid: str,
    database: str,
    version: str,
    version_num: int,
    applied: tuple[str, ...],
) -> Manifest:
    started_at = datetime.now(UTC)
    dsn, env = client_env(conninfo)
    result = run_program(basebackup_command(dsn, work / BASE, parent), env=env)
    finished = datetime.now(UTC)
    if result.returncode != 0:
        errors = "\n".join(ln for ln in result.stderr.splitlines() if "skipping special file" not in ln)
        raise OperationFailed(
            f"pg_basebackup failed (exit {result.returncode}): {redact(last_lines(errors)) or 'no message'}",
            "nothing was kept; fix the cause and run `dbops backup --physical` again",
        )
    make_private(work)
    problems = verify_base(work)
    if problems:
        raise Corruption(f"pg_verifybackup rejects the new backup: {problems[0]}", "nothing was kept; rerun")
    base = work / BASE
    label = read_label(base)
    pg_manifest = read_pg_manifest(base)
    ranges = pg_manifest["WAL-Ranges"]
    timeline = int(ranges[-1]["Timeline"])
    start_lsn, end_lsn = ranges[0]["Start-LSN"], ranges[-1]["End-LSN"]
    tool_version, _ = program_version(Path(program("pg_basebackup")))
    physical = PhysicalInfo(
        incremental=parent is not None,
        parent=parent.id if parent else None,
        chain=(*parent.manifest.physical.chain, parent.id) if parent and parent.manifest.physical else (),
        timeline=timeline,
        start_lsn=start_lsn,
        end_lsn=end_lsn,
        start_wal=label.get("START WAL LOCATION", "").rsplit("file ", 1)[-1].rstrip(")")
        or segment_name(timeline, parse_lsn(start_lsn)),
        system_identifier=str(pg_manifest["System-Identifier"]),
        pg_basebackup_version=tool_version,
        earliest_restorable=finished.isoformat(),
        data_bytes=sum(int(f.get("Size", 0)) for f in pg_manifest.get("Files", ())),
    )
    pg_manifest_file = work / PG_MANIFEST
    checked = Verification(at=datetime.now(UTC).isoformat(), restore=False, ok=True, server_version=version)
    return Manifest(
        id=bid,
        database=database,
        started_at=started_at.isoformat(),
        finished_at=finished.isoformat(),
        duration_s=0.0,
        dbops_version=__version__,
        pg_dump_version=tool_version,
        server_version=version,
        server_version_num=version_num,
        dump_format="plain",
        jobs=1,
        compression="none",
        compression_reason="pg_combinebackup reads plain-format backups only",
        compression_sample={},
        migrations_applied=applied,
        migration_head=applied[-1] if applied else None,
        row_counts={},
        files=(FileSum(PG_MANIFEST, sha256_file(pg_manifest_file), pg_manifest_file.stat().st_size),),
        toc_entries=0,
        verifications=(checked,),
        kind="physical",
        physical=physical,
    )


def restorable(backup: Backup, wal: WalListing) -> Restorable:
    """From the moment the backup is consistent up to the newest WAL received without a gap."""
    info = backup.manifest.physical
    assert info is not None
    end = segment_name(info.timeline, parse_lsn(info.end_lsn), wal.segment_size)
    missing = tuple(missing_segments(wal, end))
    if missing or wal.newest_at is None:
        return Restorable(info.earliest_restorable, info.earliest_restorable, missing)
    return Restorable(info.earliest_restorable, max(wal.newest_at.isoformat(), info.earliest_restorable))


def with_restorable(listing: Listing, backup_dir: Path) -> Listing:
    wal = list_wal(wal_dir(backup_dir))
    ranges = {b.id: restorable(b, wal) for b in listing.backups if b.manifest.physical is not None}
    return replace(listing, restorable=ranges)


def verify_base(folder: Path) -> list[str]:
    """pg_verifybackup on one backup's `base/`: each problem names the file, relative to the folder."""
    result = subprocess.run(
        [program("pg_verifybackup"), "--quiet", str(folder / BASE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return []
    lines = [ln.strip() for ln in result.stderr.splitlines() if ln.strip()]
    problems = [ln.split("error: ", 1)[-1] for ln in lines if "error:" in ln]
    return problems or [last_lines(result.stderr) or f"pg_verifybackup exited {result.returncode}"]
