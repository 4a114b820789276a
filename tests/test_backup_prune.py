"""backup prune: the policy's counts hold and the newest verified backup always survives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ops.backup import Candidate, PrunePolicy, plan_prune
from ops.backup.manifest import FileSum, Manifest, Verification, list_backups, write_manifest

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def day(d: datetime) -> str:
    return d.date().isoformat()


def week(d: datetime) -> tuple[int, int]:
    return d.isocalendar()[:2]


candidates = st.lists(
    st.tuples(st.integers(0, 60 * 24 * 90), st.booleans()), min_size=0, max_size=40, unique_by=lambda t: t[0]
).map(
    lambda items: [
        Candidate(f"b{i:03d}", BASE + timedelta(minutes=minutes), verified)
        for i, (minutes, verified) in enumerate(items)
    ]
)
policies = st.builds(PrunePolicy, st.integers(0, 6), st.integers(0, 10), st.integers(0, 6))


@settings(max_examples=400, deadline=None)
@given(candidates, policies)
def test_prune_policy_properties(backups: list[Candidate], policy: PrunePolicy) -> None:
    decisions = plan_prune(backups, policy)
    kept = {d.id for d in decisions if d.keep}
    by_id = {c.id: c for c in backups}
    newest_first = sorted(backups, key=lambda c: (c.started, c.id), reverse=True)

    assert sorted(d.id for d in decisions) == sorted(by_id)
    assert all(d.keep == bool(d.reasons) for d in decisions)

    verified = [c for c in newest_first if c.verified]
    if verified:
        assert verified[0].id in kept

    assert {c.id for c in newest_first[: policy.keep_last]} <= kept

    for period, count in ((day, policy.keep_daily), (week, policy.keep_weekly)):
        newest_per_period: dict[Any, str] = {}
        for c in newest_first:
            newest_per_period.setdefault(period(c.started), c.id)
        wanted = list(newest_per_period.values())[:count]
        assert set(wanted) <= kept
        kept_periods = {period(by_id[i].started) for i in kept}
        assert len(kept_periods) >= min(count, len(newest_per_period))

    bound = policy.keep_last + policy.keep_daily + policy.keep_weekly + 1
    assert len(kept) <= bound
    # nothing is kept without a reason of the policy or the verified rule
    reasons = {r.split(" ")[0] for d in decisions for r in d.reasons}
    assert reasons <= {"last", "daily", "weekly", "newest"}


def test_plan_names_its_reasons() -> None:
    backups = [
        Candidate("old-verified", BASE, True),
        Candidate("mon-early", BASE + timedelta(days=4, hours=1), False),
        Candidate("mon-late", BASE + timedelta(days=4, hours=20), False),
        Candidate("tue", BASE + timedelta(days=5), False),
    ]
    decisions = {d.id: d for d in plan_prune(backups, PrunePolicy(keep_last=1, keep_daily=2))}
    assert decisions["tue"].reasons == ("last 1", "daily 2026-01-06")
    assert decisions["mon-late"].reasons == ("daily 2026-01-05",)
    assert decisions["mon-early"].reasons == ()
    assert decisions["old-verified"].reasons == ("newest verified",)


def fake_backup(where: Path, bid: str, started: datetime, verified: bool | None) -> Path:
    """A finished backup folder: a dump file and a manifest (prune reads nothing else)."""
    folder = where / bid
    folder.mkdir(parents=True)
    (folder / "dump.pgdump").write_bytes(b"PGDMP")
    checks = () if verified is None else (Verification(started.isoformat(), True, verified),)
    manifest = Manifest(
        id=bid,
        database="exammentor",
        started_at=started.isoformat(),
        finished_at=started.isoformat(),
        duration_s=1.0,
        dbops_version="0.1.0",
        pg_dump_version="18.6",
        server_version="18.6",
        server_version_num=180006,
        dump_format="custom",
        jobs=1,
        compression="gzip:1",
        compression_reason="requested",
        compression_sample={},
        migrations_applied=("0001_core_schema",),
        migration_head="0001_core_schema",
        row_counts={"public.users": 1},
        files=(FileSum("dump.pgdump", "0" * 64, 5),),
        toc_entries=1,
        verifications=checks,
    )
    write_manifest(folder, manifest)
    return folder


def test_prune_deletes_what_the_policy_does_not_keep(tmp_path: Path, run_cli: Any) -> None:
    where = tmp_path / "backups"
    stamps = [BASE + timedelta(days=i) for i in range(6)]
    for i, stamp in enumerate(stamps):
        fake_backup(where, f"b{i}", stamp, verified=True if i == 1 else (False if i == 4 else None))
    partial = where / ".b9.partial"
    partial.mkdir()
    foreign = where / "notes"
    foreign.mkdir()

    dry = run_cli("backup", "prune", "--keep-last", "2", "--dir", str(where), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == [
        "keep    b5 (last 2)",
        "keep    b4 (last 2)",
        "would delete b3",
        "would delete b2",
        "keep    b1 (newest verified)",
        "would delete b0",
        "left alone (in progress): .b9.partial",
        "dry run: 3 backup(s) would be deleted; nothing was changed",
    ]
    assert len([p for p in where.iterdir()]) == 8

    done = run_cli("--json", "backup", "prune", "--keep-last", "2", "--dir", str(where))
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["deleted"] == ["b3", "b2", "b0"]
    assert [b.id for b in list_backups(where).backups] == ["b1", "b4", "b5"]
    assert partial.is_dir() and foreign.is_dir()
    assert sorted(p.name for p in where.iterdir()) == [".b9.partial", "b1", "b4", "b5", "notes"]


def test_failed_restore_verification_does_not_count_as_verified(tmp_path: Path) -> None:
    where = tmp_path / "backups"
    fake_backup(where, "good", BASE, verified=True)
    fake_backup(where, "failed", BASE + timedelta(days=1), verified=False)
    fake_backup(where, "new", BASE + timedelta(days=2), verified=None)
    decisions = {
        d.id: d.reasons
        for d in plan_prune(
            [Candidate(b.id, b.manifest.started, b.manifest.verified) for b in list_backups(where).backups],
            PrunePolicy(keep_last=1),
        )
    }
    assert decisions == {"new": ("last 1",), "failed": (), "good": ("newest verified",)}


def test_prune_without_a_policy_is_refused(tmp_path: Path, run_cli: Any) -> None:
    where = tmp_path / "backups"
    fake_backup(where, "b0", BASE, verified=None)
    result = run_cli("backup", "prune", "--dir", str(where))
    assert result.exit_code == 2
    assert (
        "Error: no retention policy: prune would delete every backup but the newest verified one"
        in result.output
    )
    assert "Hint: pass at least one of --keep-last N, --keep-daily D, --keep-weekly W" in result.output
    negative = run_cli("backup", "prune", "--keep-last", "-1", "--dir", str(where))
    assert negative.exit_code == 2
    assert (where / "b0").is_dir()
