"""`dbops backup prune --keep-window 7d --keep-min 2`: physical chains and the WAL they need.

A recovery window (Barman's): every moment of the last `keep_window` must stay restorable.
So prune keeps every chain with a backup inside the window, the newest chain from before
it (the one a restore to the window's first second starts from), the newest `keep_min`
chains, and the newest chain with a passing verification; a chain goes whole or stays
whole (an incremental is useless without its parents). WAL older than the start of the
oldest kept backup goes; nothing newer ever does. Backups go newest link first, each
folder hidden by a rename before it is removed, so a crash never leaves an incremental
listed without its parent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ops.backup.manifest import Backup, list_backups
from ops.backup.pruning import _delete
from ops.backup.wal_files import PARTIAL, list_wal, segment_number, wal_dir
from ops.errors import ConfigError, OperationFailed


@dataclass(frozen=True)
class WindowPolicy:
    keep_window: timedelta
    keep_min: int = 1

    def check(self) -> None:
        if self.keep_window <= timedelta(0) or self.keep_min < 1:
            raise ConfigError(
                "--keep-window must be positive and --keep-min at least 1",
                "e.g. --keep-window 7d --keep-min 2",
            )


@dataclass(frozen=True)
class ChainDecision:
    root: str
    ids: tuple[str, ...]  # full backup first
    keep: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class WindowPruneResult:
    dry_run: bool
    window_start: str
    chains: tuple[ChainDecision, ...]
    wal_removed: tuple[str, ...]  # segments (deleted, or that would be)
    wal_kept_from: str | None

    @property
    def to_delete(self) -> tuple[str, ...]:
        return tuple(i for c in self.chains if not c.keep for i in c.ids)


def chains_of(backups: Sequence[Backup]) -> dict[str, list[Backup]]:
    """Physical backups grouped by the full backup each chain starts with, oldest first."""
    chains: dict[str, list[Backup]] = {}
    for b in backups:
        info = b.manifest.physical
        if info is None:
            continue
        chains.setdefault(info.chain[0] if info.chain else b.id, []).append(b)
    return chains


def plan_window(chains: dict[str, list[Backup]], policy: WindowPolicy, now: datetime) -> list[ChainDecision]:
    start = now - policy.keep_window
    ordered = sorted(chains.items(), key=lambda kv: kv[1][0].manifest.started_at)
    reasons: dict[str, list[str]] = {root: [] for root, _ in ordered}

    def earliest(b: Backup) -> datetime:
        assert b.manifest.physical is not None
        return datetime.fromisoformat(b.manifest.physical.earliest_restorable)

    for root, _links in ordered[-policy.keep_min :]:
        reasons[root].append(f"newest {policy.keep_min}")
    for root, links in ordered:
        if any(earliest(b) >= start for b in links):
            reasons[root].append("inside the window")
    before = [root for root, links in ordered if any(earliest(b) < start for b in links)]
    if before:
        reasons[before[-1]].append("restores the window's start")
    verified = [root for root, links in ordered if any(b.manifest.checked for b in links)]
    if verified:
        reasons[verified[-1]].append("newest verified")
    return [
        ChainDecision(root, tuple(b.id for b in links), bool(reasons[root]), tuple(reasons[root]))
        for root, links in ordered
    ]


def prune_window(
    backup_dir: Path, policy: WindowPolicy, *, dry_run: bool = False, now: datetime | None = None
) -> WindowPruneResult:
    policy.check()
    now = now or datetime.now(UTC)
    chains = chains_of(list_backups(backup_dir).backups)
    decisions = plan_window(chains, policy, now)
    kept = [b for d in decisions if d.keep for b in chains[d.root]]
    wal = list_wal(wal_dir(backup_dir))
    oldest_needed = min(
        (
            segment_number(b.manifest.physical.start_wal, wal.segment_size)
            for b in kept
            if b.manifest.physical
        ),
        default=None,
    )
    doomed_wal = (
        [n for n in wal.segments if segment_number(n, wal.segment_size) < oldest_needed]
        if oldest_needed is not None
        else []
    )
    if not dry_run:
        for d in decisions:
            if not d.keep:
                for bid in reversed(d.ids):
                    _delete(backup_dir, bid)
        for name in doomed_wal:
            _remove_wal(wal_dir(backup_dir) / name)
    first_kept = next(
        (n for n in (*wal.segments, *([wal.partial] if wal.partial else [])) if n not in doomed_wal), None
    )
    return WindowPruneResult(
        dry_run, (now - policy.keep_window).isoformat(), tuple(decisions), tuple(doomed_wal), first_kept
    )


def _remove_wal(path: Path) -> None:
    if path.name.endswith(PARTIAL):
        return
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise OperationFailed(
            f"cannot delete {path}: {exc.strerror or exc}", f"check the permissions of {path.parent}"
        ) from exc
