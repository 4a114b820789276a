"""Migration-category checks: pending, edited, missing file, schema drift, policy drift."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.checkhelp import objects, run
from tests.conftest import Database


def test_migration_checks_are_quiet_at_head(db: Database) -> None:
    report = run(db, "migration_pending", "migration_edited", "migration_missing_file", "schema_drift")
    assert [(r.check, r.status) for r in report.results] == [
        ("migration_edited", "passed"),
        ("migration_missing_file", "passed"),
        ("migration_pending", "passed"),
        ("schema_drift", "passed"),
    ]


def test_migration_pending_fires(db: Database, project: Path) -> None:
    (project / "migrations" / "0012_extra.sql").write_text(
        "-- depends: 0011_app_login\ncreate table extra (id int);\n"
    )
    (project / "migrations" / "0012_extra.rollback.sql").write_text("drop table extra;\n")
    settings = db.settings(migrations_dir=str(project / "migrations"))
    assert objects(db, "migration_pending", settings=settings) == ["0012_extra"]


def test_migration_edited_fires(db: Database, project: Path) -> None:
    path = project / "migrations" / "0011_app_login.sql"
    path.write_text(path.read_text().replace("> 200", "> 100"))
    settings = db.settings(migrations_dir=str(project / "migrations"))
    report = run(db, "migration_edited", settings=settings)
    (f,) = report.results[0].findings
    assert f.id == "migration_edited:0011_app_login"
    assert "mark --rehash 0011_app_login" in f.detail


def test_migration_missing_file_fires_and_drift_says_why_it_cannot_run(db: Database, project: Path) -> None:
    for p in (project / "migrations").glob("0011_*"):
        p.unlink()
    settings = db.settings(migrations_dir=str(project / "migrations"))
    report = run(db, "migration_missing_file", "schema_drift", settings=settings)
    missing, drift = report.results
    assert [f.object for f in missing.findings] == ["0011_app_login"]
    assert drift.status == "unknown"
    assert drift.reason.startswith("applied migration 0011_app_login has no file")


def test_schema_drift_fires_both_ways(db: Database) -> None:
    db.conn.execute("create index topics_name_idx on topics (name); drop index idx_topics_session_id")
    db.conn.execute("grant select on topics to anon")
    report = run(db, "schema_drift")
    found = {f.object: f.detail for f in report.results[0].findings}
    assert found["index public.topics_name_idx"].startswith(
        "in the live database, not made by the migrations: "
    )
    assert found["index public.idx_topics_session_id"].startswith(
        "made by the migrations, missing from the live"
    )
    assert found["relation public.topics"].startswith("migrations make kind=r")
    assert "anon=r/" in found["relation public.topics"]


def test_schema_drift_leaves_policies_to_policy_drift(db: Database) -> None:
    from tests.test_checks_library import OWNER_POLICIES

    db.conn.execute(OWNER_POLICIES)
    assert objects(db, "schema_drift") == []


# -- policy drift: ops.policies.diff when it exists, unknown when it does not ------------------------


def test_policy_drift_is_unknown_without_the_policies_module(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ops.policies", None)  # import fails as when the module is absent
    (r,) = run(db, "policy_drift").results
    assert r.status == "unknown"
    assert "no ops.policies module" in r.reason


@dataclass(frozen=True)
class _Difference:
    table: str
    policy: str
    change: str

    def describe(self) -> str:
        return f"{self.change}: {self.table}.{self.policy}"


@dataclass(frozen=True)
class _PolicyDiff:
    differences: list[_Difference]


def _fake_policies(monkeypatch: pytest.MonkeyPatch, differences: list[_Difference]) -> list[Any]:
    calls: list[Any] = []
    module = types.ModuleType("ops.policies")

    def diff(conn: Any, settings: Any) -> _PolicyDiff:
        calls.append((conn, settings))
        return _PolicyDiff(differences)

    module.diff = diff  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ops.policies", module)
    return calls


def test_policy_drift_reports_each_difference(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_policies(
        monkeypatch, [_Difference("public.quizzes", "Allow all access to quizzes", "not in file")]
    )
    (r,) = run(db, "policy_drift").results
    assert calls and calls[0][1].policies_dir.name == "policies"
    assert [(f.id, f.detail) for f in r.findings] == [
        (
            "policy_drift:public.quizzes.Allow all access to quizzes",
            "not in file: public.quizzes.Allow all access to quizzes",
        )
    ]


def test_policy_drift_passes_when_there_is_no_difference(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_policies(monkeypatch, [])
    (r,) = run(db, "policy_drift").results
    assert r.status == "passed"
