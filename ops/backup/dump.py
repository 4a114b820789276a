"""`dbops backup`: pg_dump into a folder that exists only once it is complete and proven non-empty.

The row counts of the manifest are exact for the dump: they are counted in the transaction
whose snapshot pg_dump imports (`pg_export_snapshot` + `--snapshot`), while pg_dump runs.
"""

from __future__ import annotations

import errno
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from ops import __version__, sqlfiles
from ops.backup.manifest import (
    OWNER,
    PARTIAL_SUFFIX,
    PRIVATE_DIR,
    DumpFormat,
    FileSum,
    Manifest,
    checksum_files,
    fsync_dir,
    make_private,
    private_dir,
    reclaim_partials,
    run_identity,
    table_name,
    write_manifest,
    write_private,
)
from ops.backup.pg_programs import kill_group, start_in_group
from ops.backup.tools import PgTools, choose_compression, client_env, find_tools
from ops.db import Conn, connect, redact, server_major
from ops.errors import ConfigError, OperationFailed
from ops.failpoints import failpoint
from ops.locks import JobFamily, job_lock
from ops.migrations import history
from ops.retry import elapsed_s

FORMATS = ("custom", "directory")
_TOC_ENTRIES = re.compile(r"^;\s+TOC Entries:\s*(\d+)", re.MULTILINE)
_DUMPING = re.compile(r'dumping contents of table "([^"]+)"')
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")

Progress = Callable[[int, int, str], None]  # tables done, tables in all, what pg_dump is doing


@dataclass(frozen=True)
class BackupRequest:
    backup_dir: Path
    dump_format: DumpFormat = "custom"
    jobs: int = 1
    compress: str = "auto"
    bin_dir: Path | None = None
    lock_wait: float | None = None


@dataclass(frozen=True)
class BackupResult:
    id: str
    path: str
    manifest: Manifest
    reclaimed: tuple[str, ...] = ()  # `.partial` folders of ended runs this run removed


def backup_id(started: datetime, database: str) -> str:
    return f"{started.strftime('%Y%m%dT%H%M%SZ')}_{_SAFE.sub('-', database) or 'db'}"


def server_info(conn: Conn) -> tuple[str, int]:
    row = conn.execute("show server_version").fetchone()
    version = str(row[0]).split(" ", 1)[0] if row else "?"
    return version, conn.info.server_version


# what pg_dump's --compress takes before its ':detail' (a bare digit is a gzip level), and auto
COMPRESSION_METHODS = ("auto", "none", "gzip", "zstd", "lz4")


def check_request(request: BackupRequest) -> None:
    if request.dump_format not in FORMATS:
        raise ConfigError(
            f"unknown format {request.dump_format!r}", "use --format custom or --format directory"
        )
    method = request.compress.split(":", 1)[0]
    if method not in COMPRESSION_METHODS and not method.isdigit():
        raise ConfigError(
            f"unknown compression {request.compress!r}",
            "use --compress auto, gzip:N (0-9), zstd, lz4 or none",
        )
    if request.jobs < 1:
        raise ConfigError("--jobs must be at least 1", "use --jobs 1 or more")
    if request.jobs > 1 and request.dump_format != "directory":
        raise ConfigError(
            "parallel dump (--jobs > 1) needs the directory format", "add --format directory, or drop --jobs"
        )


def make_partial(backup_dir: Path, bid: str) -> Path:
    """The hidden work folder, with its owner recorded; a clear error when the directory is unusable.

    A folder whose owner could not be recorded is removed again: nothing unowned is left."""
    work = backup_dir / f".{bid}{PARTIAL_SUFFIX}"
    try:
        private_dir(backup_dir)
        work.mkdir(mode=PRIVATE_DIR)
        work.chmod(PRIVATE_DIR)
        failpoint("backup.partial.created")
        write_private(work / OWNER, json.dumps(run_identity()) + "\n")
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
            raise OperationFailed(
                f"cannot write to the backup directory {backup_dir}: {exc.strerror or exc}",
                "free space on its disk, or pass --dir to another directory",
            ) from exc
        raise ConfigError(
            f"cannot write to the backup directory {backup_dir}: {exc.strerror or exc}",
            "pass --dir (or set DBOPS_BACKUP_DIR / backup_dir) to a writable directory",
        ) from exc
    return work


def publish(work: Path, backup_dir: Path, bid: str) -> str:
    """Rename the finished work folder to its id (a suffix when two backups share a second)."""
    (work / OWNER).unlink(missing_ok=True)
    for n in range(100):
        name = bid if n == 0 else f"{bid}-{n}"
        try:
            work.rename(backup_dir / name)
        except OSError:
            if (backup_dir / name).exists():
                continue
            raise
        fsync_dir(backup_dir)
        return name
    raise OperationFailed(f"too many backups named {bid} in {backup_dir}", "remove old ones")


@contextmanager
def partial_folder(backup_dir: Path, bid: str) -> Iterator[Path]:
    """The hidden work folder of a backup being taken (`make_partial`), removed if the backup fails."""
    work = make_partial(backup_dir, bid)
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def published_result(
    backup_dir: Path, bid: str, final: str, manifest: Manifest, reclaimed: tuple[str, ...] = ()
) -> BackupResult:
    """The result of a backup `publish` named `final`; a suffixed name is written into its manifest too."""
    if final != bid:
        manifest = replace(manifest, id=final)
        write_manifest(backup_dir / final, manifest)
    return BackupResult(final, str(backup_dir / final), manifest, reclaimed)


def toc_entries(tools: PgTools, dump: Path) -> int:
    """The number of entries of the archive's table of contents (`pg_restore --list`)."""
    result = subprocess.run(
        [tools.path("pg_restore"), "--list", str(dump)], capture_output=True, text=True, check=False
    )
    match = _TOC_ENTRIES.search(result.stdout)
    if result.returncode != 0 or not match:
        why = first_error(result.stderr) or "no table of contents"
        raise OperationFailed(
            f"pg_restore --list cannot read {dump.name}: {why}",
            "the dump is unreadable; see `dbops backup verify`",
        )
    return int(match.group(1))


def first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in lines:
        if "error:" in ln.lower():
            return redact(ln)
    return redact(lines[-1]) if lines else ""


def count_rows(conn: Conn) -> dict[str, int]:
    counts: dict[str, int] = {}
    for schema, table in conn.execute(sqlfiles.query(__name__, "backup_tables")).fetchall():
        row = conn.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))
        ).fetchone()
        counts[table_name(schema, table)] = int(row[0]) if row else 0
    return counts


def applied_migrations(conn: Conn) -> tuple[str, ...]:
    return tuple(sorted(history.read_applied(conn)))


@contextmanager
def exported_snapshot(conninfo: str) -> Iterator[tuple[Conn, str]]:
    """A repeatable-read transaction and the id of its snapshot, for pg_dump --snapshot."""
    conn = connect(conninfo, autocommit=False)
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        row = conn.execute("select pg_export_snapshot()").fetchone()
        assert row is not None
        yield conn, str(row[0])
    finally:
        conn.rollback()
        conn.close()


class _DumpRun:
    """pg_dump as a child process; its --verbose stderr read on a thread (progress, errors)."""

    def __init__(self, command: list[str], env: dict[str, str], total: int, progress: Progress | None):
        self.lines: list[str] = []
        self.done = 0
        # in a group of its own: private files from the first byte, and pg_dump with its
        # parallel workers ends when dbops does
        self.proc = start_in_group(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        self._reader = threading.Thread(target=self._read, args=(total, progress), daemon=True)
        self._reader.start()

    def _read(self, total: int, progress: Progress | None) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            match = _DUMPING.search(line)
            if match:
                self.done += 1
                if progress:
                    progress(min(self.done, total), total, match.group(1))
            elif "error:" in line or "detail:" in line:
                self.lines.append(line.rstrip())

    def wait(self) -> int:
        code = self.proc.wait()
        self._reader.join(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            kill_group(self.proc)
            self.wait()


@dataclass(frozen=True)
class _Dumped:
    row_counts: dict[str, int]
    files: tuple[FileSum, ...]
    toc_entries: int


def run_backup(conninfo: str, request: BackupRequest, progress: Progress | None = None) -> BackupResult:
    check_request(request)
    with connect(conninfo) as conn:
        version, version_num = server_info(conn)
        tools = find_tools(version, server_major(version_num), request.bin_dir)
        with job_lock(conn, JobFamily.BACKUP, request.lock_wait):
            compression = choose_compression(tools, conn, request.compress)
            applied = applied_migrations(conn)
            started = datetime.now(UTC)
            clock = time.monotonic()
            bid = backup_id(started, conn.info.dbname)
            reclaimed = reclaim_partials(request.backup_dir)
            with partial_folder(request.backup_dir, bid) as work:
                dumped = _dump(conninfo, request, tools, compression.spec, work, progress)
                manifest = Manifest(
                    id=bid,
                    database=conn.info.dbname,
                    started_at=started.isoformat(),
                    finished_at=datetime.now(UTC).isoformat(),
                    duration_s=elapsed_s(clock),
                    dbops_version=__version__,
                    pg_dump_version=tools.version,
                    server_version=version,
                    server_version_num=version_num,
                    dump_format=request.dump_format,
                    jobs=request.jobs,
                    compression=compression.spec,
                    compression_reason=compression.reason,
                    compression_sample=compression.sample,
                    migrations_applied=applied,
                    migration_head=applied[-1] if applied else None,
                    row_counts=dumped.row_counts,
                    files=dumped.files,
                    toc_entries=dumped.toc_entries,
                )
                failpoint("backup.manifest.write")
                write_manifest(work, manifest)
                final = publish(work, request.backup_dir, bid)
    return published_result(request.backup_dir, bid, final, manifest, reclaimed)


def _dump(
    conninfo: str,
    request: BackupRequest,
    tools: PgTools,
    compress: str,
    work: Path,
    progress: Progress | None,
) -> _Dumped:
    target = work / ("dump.pgdump" if request.dump_format == "custom" else "dump")
    plain, env = client_env(conninfo)
    with exported_snapshot(conninfo) as (snap, snapshot_id):
        tables = snap.execute(sqlfiles.query(__name__, "backup_tables")).fetchall()
        command = [
            tools.path("pg_dump"),
            "--format",
            request.dump_format,
            "--compress",
            compress,
            "--snapshot",
            snapshot_id,
            "--verbose",
            "--file",
            str(target),
            *(["--jobs", str(request.jobs)] if request.jobs > 1 else []),
            "--dbname",
            plain,
        ]
        run = _DumpRun(command, env, len(tables), progress)
        failpoint("backup.dump.running")
        try:
            counts = count_rows(snap)
            code = run.wait()
        finally:
            run.kill()
    if code != 0:
        raise OperationFailed(
            f"pg_dump failed (exit {code}): {first_error(chr(10).join(run.lines)) or 'no message'}",
            "nothing was kept; fix the cause and run `dbops backup` again",
        )
    make_private(work)
    files = checksum_files(work)
    if not files or any(f.size == 0 for f in files if f.path in ("dump.pgdump", "dump/toc.dat")):
        raise OperationFailed("pg_dump exited 0 but wrote an empty dump", "nothing was kept; rerun with -v")
    entries = toc_entries(tools, target)
    if entries == 0:
        raise OperationFailed("the dump's table of contents is empty", "nothing was kept; rerun with -v")
    return _Dumped(counts, files, entries)
