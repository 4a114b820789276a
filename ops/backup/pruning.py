"""`dbops backup prune`: keep what the policy names, and never the newest verified backup's deletion.

The policy is the usual one (restic, borg): the newest N backups; the newest backup of each
of the D newest days that have one; the same for W ISO weeks. On top of it, the newest
backup proven by `backup verify --restore` is always kept, so a retention run can never
leave only unproven backups. A backup being written is a hidden `.<id>.partial` folder:
prune never looks at it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ops.backup.manifest import list_backups
from ops.errors import ConfigError, OperationFailed


@dataclass(frozen=True)
class PrunePolicy:
    keep_last: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0

    def check(self) -> None:
        if min(self.keep_last, self.keep_daily, self.keep_weekly) < 0:
            raise ConfigError(
                "--keep-last, --keep-daily and --keep-weekly cannot be negative", "use 0 or more"
            )
        if not (self.keep_last or self.keep_daily or self.keep_weekly):
            raise ConfigError(
                "no retention policy: prune would delete every backup but the newest verified one",
                "pass at least one of --keep-last N, --keep-daily D, --keep-weekly W",
            )


@dataclass(frozen=True)
class Candidate:
    id: str
    started: datetime  # UTC
    verified: bool


@dataclass(frozen=True)
class PruneDecision:
    id: str
    keep: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class PruneResult:
    dry_run: bool
    decisions: tuple[PruneDecision, ...]
    in_progress: tuple[str, ...]
    deleted: tuple[str, ...]

    @property
    def kept(self) -> tuple[str, ...]:
        return tuple(d.id for d in self.decisions if d.keep)

    @property
    def to_delete(self) -> tuple[str, ...]:
        return tuple(d.id for d in self.decisions if not d.keep)


def plan_prune(candidates: Sequence[Candidate], policy: PrunePolicy) -> list[PruneDecision]:
    """One decision per candidate, newest first; pure, so it is property-tested without files."""
    newest_first = sorted(candidates, key=lambda c: (c.started, c.id), reverse=True)
    reasons: dict[str, list[str]] = {c.id: [] for c in newest_first}
    for c in newest_first[: policy.keep_last]:
        reasons[c.id].append(f"last {policy.keep_last}")
    _keep_per_period(newest_first, policy.keep_daily, "daily", lambda d: d.date().isoformat(), reasons)
    _keep_per_period(
        newest_first,
        policy.keep_weekly,
        "weekly",
        lambda d: "{}-W{:02d}".format(*d.isocalendar()[:2]),
        reasons,
    )
    verified = next((c for c in newest_first if c.verified), None)
    if verified is not None:
        reasons[verified.id].append("newest verified")
    return [PruneDecision(c.id, bool(reasons[c.id]), tuple(reasons[c.id])) for c in newest_first]


def _keep_per_period(
    newest_first: Sequence[Candidate],
    count: int,
    label: str,
    period_of: Callable[[datetime], str],
    reasons: dict[str, list[str]],
) -> None:
    seen: set[str] = set()
    for c in newest_first:
        if len(seen) >= count:
            return
        period = period_of(c.started)
        if period not in seen:
            seen.add(period)
            reasons[c.id].append(f"{label} {period}")


def prune(backup_dir: Path, policy: PrunePolicy, *, dry_run: bool = False) -> PruneResult:
    policy.check()
    listing = list_backups(backup_dir)
    candidates = [Candidate(b.id, b.manifest.started, b.manifest.verified) for b in listing.backups]
    decisions = plan_prune(candidates, policy)
    deleted: list[str] = []
    if not dry_run:
        for d in decisions:
            if not d.keep:
                _delete(backup_dir, d.id)
                deleted.append(d.id)
    return PruneResult(dry_run, tuple(decisions), listing.in_progress, tuple(deleted))


def _delete(backup_dir: Path, backup_id: str) -> None:
    """Hide the folder first (one rename), so a crash mid-delete never leaves a backup-looking half."""
    doomed = backup_dir / f".{backup_id}.deleting"
    try:
        (backup_dir / backup_id).rename(doomed)
        shutil.rmtree(doomed)
    except OSError as exc:
        raise OperationFailed(
            f"cannot delete backup {backup_id}: {exc.strerror or exc}",
            f"check the permissions of {backup_dir}; remove {doomed.name} by hand if it is left",
        ) from exc
