"""`dbops backup verify` and `dbops restore`: a backup counts only once a restore has proven it.

verify: every file's SHA-256 and size against the manifest, and `pg_restore --list`; with
`restore=True` also a restore into a scratch database whose row counts must equal the
manifest's, then the integrity checks; the outcome is recorded in the manifest.
restore: the same checksum gate, then pg_restore into a target that is empty (or cleaned on
request) on a server at least as new as the backup's source, stopping at the first error.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ops import progress, sqlfiles
from ops.backup.dump import count_rows, first_error, server_info
from ops.backup.manifest import (
    Backup,
    Verification,
    count_differences,
    dump_files,
    record_verification,
    sha256_file,
)
from ops.backup.pg_programs import run_program
from ops.backup.tools import PgTools, client_env, find_tools
from ops.config import Settings
from ops.db import connect, describe, redact, server_major
from ops.errors import ConfigError, Corruption, OperationFailed
from ops.locks import JobFamily, job_lock
from ops.migrations import history, scratch_database
from ops.retry import elapsed_s


@dataclass(frozen=True)
class VerifyResult:
    id: str
    ok: bool
    restore: bool
    problems: tuple[str, ...]
    tables_compared: int
    checks: str
    duration_s: float
    recorded: str  # "yes", or why the manifest could not be updated
    checks_exit_code: int = 0  # `dbops check` on the restored copy: 1 findings, 7 corruption


@dataclass(frozen=True)
class RestoreResult:
    id: str
    target: str
    dry_run: bool
    command: tuple[str, ...]
    migration_head: str | None
    tables_compared: int
    duration_s: float


def file_problems(backup: Backup, *, extra_files: bool = True) -> list[str]:
    """Each file missing, of another size or SHA-256, or (with `extra_files`) not in the manifest."""
    problems: list[str] = []
    listed = {f.path for f in backup.manifest.files}
    with progress.step(f"checking {backup.id} against its manifest", len(backup.manifest.files)) as checking:
        for f in backup.manifest.files:
            checking.advance()
            path = backup.path / f.path
            if not path.is_file():
                problems.append(f"{f.path}: missing")
                continue
            size = path.stat().st_size
            if size != f.size:
                problems.append(f"{f.path}: {size} bytes, {f.size} in the manifest (truncated or grown)")
            elif sha256_file(path) != f.sha256:
                problems.append(f"{f.path}: SHA-256 differs from the manifest (content changed)")
    for path in dump_files(backup.path) if extra_files else ():
        rel = path.relative_to(backup.path).as_posix()
        if rel not in listed:
            problems.append(f"{rel}: not in the manifest")
    return problems


def toc_problems(tools: PgTools, backup: Backup) -> list[str]:
    from ops.backup.dump import toc_entries

    try:
        entries = toc_entries(tools, backup.path / backup.manifest.dump_path)
    except OperationFailed as exc:
        return [exc.message]
    if entries != backup.manifest.toc_entries:
        want = backup.manifest.toc_entries
        return [f"{backup.manifest.dump_path}: {entries} TOC entries, {want} in the manifest"]
    return []


def restore_tools(backup: Backup, bin_dir: Path | None) -> PgTools:
    version = backup.manifest.pg_dump_version
    return find_tools(version, int(version.split(".")[0]), bin_dir, reading_dump=True)


def integrity_checks(conninfo: str, settings: Settings) -> tuple[str, int]:
    """`dbops check` on the restored database: "passed" or what it found, and its exit code."""
    import os

    from ops.checks import load_check_config, run_checks

    config = load_check_config(settings, os.environ)
    with progress.step("running the checks on the restored copy"), connect(conninfo) as conn:
        report = run_checks(conn, settings, config, conninfo=conninfo)
    if report.exit_code == 0:
        return "passed", 0
    found = ", ".join(sorted(r.check for r in report.results if r.status in ("failed", "unknown")))
    return (
        f"{len(report.findings)} finding(s), {len(report.unknown)} check(s) unknown, "
        f"corruption: {'yes' if report.corruption else 'no'} ({found})"
    ), report.exit_code


def pg_restore_command(
    tools: PgTools,
    backup: Backup,
    conninfo: str,
    *,
    jobs: int = 1,
    clean: bool = False,
    no_owner: bool = False,
    no_acl: bool = False,
) -> list[str]:
    """All-or-nothing (one transaction) unless --jobs; always stops at the first error."""
    command = [tools.path("pg_restore"), "--exit-on-error"]
    command += ["--jobs", str(jobs)] if jobs > 1 else ["--single-transaction"]
    if clean:
        command += ["--clean", "--if-exists"]
    if no_owner:
        command.append("--no-owner")
    if no_acl:
        command.append("--no-acl")
    return [*command, "--dbname", conninfo, str(backup.path / backup.manifest.dump_path)]


def run_pg_restore(command: list[str], env: Mapping[str, str], target: str, *, jobs: int) -> None:
    with progress.step(f"pg_restore into {target}"):
        result = run_program(command, env=dict(env))
    if result.returncode != 0:
        hint = (
            "the target is partly restored: fix the cause, then restore again with --clean --yes"
            if jobs > 1
            else "nothing was restored (one transaction); fix the cause and run it again"
        )
        if "role" in result.stderr and "does not exist" in result.stderr:
            hint += ", or pass --no-owner --no-acl"
        raise OperationFailed(f"pg_restore into {target} failed: {first_error(result.stderr)}", hint)


def check_target_version(target_num: int, target_version: str, backup: Backup) -> None:
    source_num = backup.manifest.server_version_num
    if server_major(target_num) < server_major(source_num):
        raise ConfigError(
            f"the target server ({target_version}) is older than the backup's source "
            f"({backup.manifest.server_version}); nothing was restored",
            f"restore into a PostgreSQL {server_major(source_num)} or newer server",
        )


def verify_backup(
    backup: Backup,
    *,
    conninfo: str | None,
    settings: Settings,
    restore: bool = False,
    bin_dir: Path | None = None,
    jobs: int = 1,
) -> VerifyResult:
    clock = time.monotonic()
    tools = restore_tools(backup, bin_dir)
    problems = file_problems(backup)
    if not problems:
        problems += toc_problems(tools, backup)
    compared, checks, checks_exit_code = 0, "", 0
    if restore and not problems:
        assert conninfo is not None
        compared, (checks, checks_exit_code), more = _restore_and_compare(
            backup, tools, conninfo, settings, jobs
        )
        problems += more
    elif restore:
        checks = "not run: the files do not match the manifest"
    return record_verify_result(
        backup, restore=restore, problems=problems, checks=checks, started=clock,
        tables_compared=compared, checks_exit_code=checks_exit_code,
    )  # fmt: skip


def record_verify_result(
    backup: Backup,
    *,
    restore: bool,
    problems: list[str],
    checks: str,
    started: float,
    tables_compared: int,
    checks_exit_code: int,
) -> VerifyResult:
    """Record a verification's outcome in the backup's manifest and return it as a VerifyResult."""
    duration = elapsed_s(started)
    verification = Verification(
        at=datetime.now(UTC).isoformat(),
        restore=restore,
        ok=not problems,
        problems=tuple(problems),
        checks=checks,
        duration_s=duration,
        server_version=backup.manifest.server_version,
    )
    try:
        record_verification(backup, verification)
        recorded = "yes"
    except OSError as exc:
        recorded = f"no: cannot write {backup.path}: {exc.strerror or exc}"
    return VerifyResult(
        backup.id, not problems, restore, tuple(problems), tables_compared, checks, duration, recorded,
        checks_exit_code,
    )  # fmt: skip


def _restore_and_compare(
    backup: Backup, tools: PgTools, conninfo: str, settings: Settings, jobs: int
) -> tuple[int, tuple[str, int], list[str]]:
    with connect(conninfo) as conn:
        version, version_num = server_info(conn)
    check_target_version(version_num, version, backup)
    with scratch_database(conninfo, "dbops_backup_verify") as scratch:
        plain, env = client_env(scratch)
        try:
            run_pg_restore(
                pg_restore_command(tools, backup, plain, jobs=jobs), env, "a scratch database", jobs=jobs
            )
        except OperationFailed as exc:
            return 0, ("not run: the restore failed", 0), [exc.message]
        with connect(scratch) as conn:
            found = count_rows(conn)
        problems = count_differences(backup.manifest.row_counts, found)
        checks = integrity_checks(scratch, settings)
    return len(backup.manifest.row_counts), checks, problems


def restore_backup(
    backup: Backup,
    target_url: str,
    *,
    clean: bool = False,
    dry_run: bool = False,
    bin_dir: Path | None = None,
    jobs: int = 1,
    no_owner: bool = False,
    no_acl: bool = False,
    lock_wait: float | None = None,
) -> RestoreResult:
    clock = time.monotonic()
    problems = file_problems(backup)
    if problems:
        raise Corruption(
            f"backup {backup.id} does not match its manifest: {problems[0]}",
            "restore another backup (see `dbops backup list`); this one is damaged",
        )
    tools = restore_tools(backup, bin_dir)
    target = redact(describe(target_url))
    with connect(target_url) as conn:
        version, version_num = server_info(conn)
        check_target_version(version_num, version, backup)
        with job_lock(conn, JobFamily.BACKUP, lock_wait):
            present = conn.execute(sqlfiles.query(__name__, "backup_target_objects")).fetchall()
            if present and not clean:
                kind, name = present[0]
                raise ConfigError(
                    f"the target {target} is not empty: {len(present)} object(s), e.g. {kind} {name}; "
                    "nothing was restored",
                    "restore into an empty database (createdb), or pass --clean --yes to replace "
                    "the objects the backup holds",
                )
            plain, env = client_env(target_url)
            command = pg_restore_command(
                tools,
                backup,
                plain,
                jobs=jobs,
                clean=clean and bool(present),
                no_owner=no_owner,
                no_acl=no_acl,
            )
            shown = tuple(redact(part) for part in command)
            if dry_run:
                return RestoreResult(backup.id, target, True, shown, backup.manifest.migration_head, 0, 0.0)
            run_pg_restore(command, env, target, jobs=jobs)
            found = count_rows(conn)
            applied = sorted(history.read_applied(conn))
    expected = backup.manifest.row_counts
    problems = count_differences(expected, {k: v for k, v in found.items() if k in expected})
    if problems:
        raise Corruption(
            f"the restored {target} differs from the backup: {problems[0]}",
            "the target changed during the restore, or the dump is damaged: "
            f"run `dbops backup verify {backup.id} --restore`",
        )
    head = applied[-1] if applied else None
    return RestoreResult(backup.id, target, False, shown, head, len(expected), elapsed_s(clock))
