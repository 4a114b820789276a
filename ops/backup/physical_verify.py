"""`dbops backup verify ID` for a physical backup: every link of its chain, the joins, the WAL.

- each link's `base/backup_manifest` has the SHA-256 dbops recorded, and pg_verifybackup
  accepts the link (every file against that manifest, the WAL up to consistency);
- each incremental was taken from its parent (its backup_label's INCREMENTAL FROM LSN is
  the parent's start LSN, same timeline, same system);
- the WAL folder has every segment from the backup's end to the newest one received.
`--restore` then restores the chain to the end of the WAL in a scratch directory, starts it
on a private socket, runs `dbops check` there, and removes it.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from pathlib import Path

from ops import progress
from ops.backup.manifest import Backup, find_backup
from ops.backup.physical import read_label, verify_base
from ops.backup.pitr_restore import RecoveryTarget, restore_to_point, stop_restored
from ops.backup.restore import VerifyResult, file_problems, integrity_checks, record_verify_result
from ops.backup.wal_files import list_wal, missing_segments, parse_lsn, segment_name, segment_number, wal_dir
from ops.config import Settings
from ops.db import with_database
from ops.errors import ConfigError, DbopsError


def chain_links(backup: Backup, backup_dir: Path) -> tuple[list[Backup], list[str]]:
    info = backup.manifest.physical
    assert info is not None
    links, problems = [], []
    for link in info.chain:
        try:
            links.append(find_backup(backup_dir, link))
        except (ConfigError, DbopsError):
            problems.append(f"{link}: missing (backup {backup.id} is incremental to it)")
    return [*links, backup], problems


def join_problems(links: list[Backup]) -> list[str]:
    problems = []
    for parent, child in itertools.pairwise(links):
        p, c = parent.manifest.physical, child.manifest.physical
        assert p is not None and c is not None
        label = read_label(child.path / "base")
        since = label.get("INCREMENTAL FROM LSN")
        if since is None or parse_lsn(since) != parse_lsn(p.start_lsn):
            problems.append(
                f"{child.id}: incremental from LSN {since or 'none'}, but {parent.id} starts at {p.start_lsn}"
            )
        if (
            c.system_identifier != p.system_identifier
            or int(label.get("INCREMENTAL FROM TLI", 0)) != p.timeline
        ):
            problems.append(f"{child.id}: not taken from the same server and timeline as {parent.id}")
    return problems


def wal_problems(backup: Backup, backup_dir: Path) -> tuple[list[str], str]:
    """Gaps in the WAL after the backup, and a note on how far it reaches."""
    info = backup.manifest.physical
    assert info is not None
    listing = list_wal(wal_dir(backup_dir))
    end = segment_name(info.timeline, parse_lsn(info.end_lsn), listing.segment_size)
    newest = listing.newest
    if newest is None or segment_number(newest, listing.segment_size) < segment_number(
        end, listing.segment_size
    ):
        return [], "no WAL after the backup: restorable to its end only"
    missing = missing_segments(listing, end)
    return [
        f"wal/{name}: missing (needed to replay past {backup.id})" for name in missing
    ], f"WAL to {newest}"


def verify_physical(
    backup: Backup, backup_dir: Path, *, settings: Settings, restore: bool = False
) -> VerifyResult:
    clock = time.monotonic()
    links, problems = chain_links(backup, backup_dir)
    for link in links:
        problems += [
            f"{link.id}: {p}" for p in file_problems(link, extra_files=False)
        ]  # pg_verifybackup names extras
        with progress.step(f"pg_verifybackup {link.id}"):
            problems += [f"{link.id}: {p}" for p in verify_base(link.path)]
    if not problems:  # every link is there and intact: check that they join
        problems += join_problems(links)
    more, wal_note = wal_problems(backup, backup_dir)
    problems += more
    checks, checks_exit = wal_note, 0
    if restore and not problems:
        restored, checks_exit = _restore_and_check(backup, backup_dir, settings)
        checks += "; " + restored
    elif restore:
        checks += "; restore not run: the chain has problems"
    return record_verify_result(
        backup, restore=restore, problems=problems, checks=checks, started=clock,
        tables_compared=len(links), checks_exit_code=checks_exit,
    )  # fmt: skip


def _restore_and_check(backup: Backup, backup_dir: Path, settings: Settings) -> tuple[str, int]:
    scratch = Path(tempfile.mkdtemp(prefix="dbops-verify-"))
    scratch.chmod(0o711)
    target = scratch / "restore"
    try:
        result = restore_to_point(backup, backup_dir, RecoveryTarget("latest"), target, start=True)
        assert result.url is not None
        checks, code = integrity_checks(with_database(result.url, backup.manifest.database), settings)
        return f"restored to {result.recovered_to or 'the backup'}; checks: {checks}", code
    finally:
        stop_restored(target)
        shutil.rmtree(scratch, ignore_errors=True)
