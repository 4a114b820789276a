"""The recovery-window plan for physical chains, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ops.backup.manifest import Backup, Manifest, PhysicalInfo, Verification
from ops.backup.physical_pruning import WindowPolicy, chains_of, plan_window

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _backup(
    bid: str, days_ago: float, parent: str | None = None, chain: tuple[str, ...] = (), ok: bool = True
) -> Backup:
    at = (NOW - timedelta(days=days_ago)).isoformat()
    info = PhysicalInfo(parent is not None, parent, chain, 1, "0/0", "0/0", "0" * 24, "1", "18", at)
    manifest = Manifest(
        bid, "db", at, at, 0.0, "0", "18", "18", 180000, "plain", 1, "none", "", {}, (), None, {}, (), 0,
        verifications=(Verification(at, False, ok),), kind="physical", physical=info,
    )  # fmt: skip
    return Backup(bid, Path(bid), manifest)


def _plan(backups: list[Backup], window_days: float, keep_min: int = 1) -> dict[str, tuple[str, ...]]:
    decisions = plan_window(chains_of(backups), WindowPolicy(timedelta(days=window_days), keep_min), NOW)
    return {d.root: d.reasons for d in decisions}


def test_the_chain_before_the_window_stays_and_older_ones_go() -> None:
    backups = [
        _backup("a", 20),
        _backup("a1", 19, "a", ("a",)),
        _backup("b", 10),
        _backup("b1", 9, "b", ("b",)),
        _backup("c", 3),
        _backup("c1", 1, "c", ("c",)),
    ]
    plan = _plan(backups, 7)
    assert plan["a"] == ()
    assert plan["b"] == ("restores the window's start",)
    assert plan["c"] == ("newest 1", "inside the window", "newest verified")


def test_keep_min_and_the_newest_verified_chain_outlast_the_window() -> None:
    backups = [
        _backup("a", 30),
        _backup("b", 20, ok=True),
        _backup("c", 15, ok=False),
        _backup("d", 12, ok=False),
    ]
    plan = _plan(backups, 1, keep_min=2)
    assert plan["a"] == ()
    assert plan["b"] == ("newest verified",)
    assert plan["c"] == ("newest 2",)
    assert plan["d"] == ("newest 2", "restores the window's start")
