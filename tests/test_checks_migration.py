"""Migration-category checks: pending, edited, missing file, schema drift, policy drift."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.checkhelp import run, seed_policies
from tests.conftest import ROOT, Database
from tests.server import HEAD


def test_migration_checks_are_quiet_at_head(db: Database) -> None:
    report = run(db, "migration_pending", "migration_edited", "migration_missing_file", "schema_drift")
    assert [(r.check, r.status) for r in report.results] == [
        ("migration_edited", "passed"),
        ("migration_missing_file", "passed"),
        ("migration_pending", "passed"),
        ("schema_drift", "passed"),
    ]


def test_migration_pending_fires(db: Database, project: Path) -> None:
    (project / "migrations" / "0013_extra.sql").write_text(
        f"-- depends: {HEAD}\ncreate table extra (id int);\n"
    )
    (project / "migrations" / "0013_extra.rollback.sql").write_text("drop table extra;\n")
    settings = db.settings(migrations_dir=str(project / "migrations"))
    (f,) = run(db, "migration_pending", settings=settings).results[0].findings
    assert (f.object, f.detail) == ("0013_extra", "not applied: `dbops migrate` applies it")


def test_migration_edited_fires(db: Database, project: Path) -> None:
    path = project / "migrations" / "0011_app_login.sql"
    path.write_text(path.read_text().replace("> 200", "> 100"))
    settings = db.settings(migrations_dir=str(project / "migrations"))
    report = run(db, "migration_edited", settings=settings)
    (f,) = report.results[0].findings
    assert f.id == "migration_edited:0011_app_login"
    assert "mark --rehash 0011_app_login" in f.detail


def test_migration_missing_file_fires_and_drift_says_why_it_cannot_run(db: Database, project: Path) -> None:
    for p in (project / "migrations").glob(f"{HEAD}.*"):
        p.unlink()
    settings = db.settings(migrations_dir=str(project / "migrations"))
    report = run(db, "migration_missing_file", "schema_drift", settings=settings)
    missing, drift = report.results
    assert [f.object for f in missing.findings] == [HEAD]
    assert drift.status == "unknown"
    assert drift.reason.startswith(f"applied migration {HEAD} has no file")


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
    assert found["relation public.topics"].startswith("--- migrations\n+++ live\n")
    assert "\n+anon=SELECT/OWNER" in found["relation public.topics"]


def test_schema_drift_leaves_policies_to_policy_drift(db: Database) -> None:
    seed_policies(db)  # policies and RLS switches as before `policies apply`
    report = run(db, "schema_drift", "policy_drift")
    assert [(r.check, r.status) for r in report.results] == [
        ("policy_drift", "failed"),
        ("schema_drift", "passed"),
    ]


# -- policy drift: `dbops policies diff`, read-only -------------------------------------------------


def test_policy_drift_is_quiet_when_the_live_policies_are_the_files(db: Database) -> None:
    (r,) = run(db, "policy_drift").results
    assert (r.status, r.findings) == ("passed", ())


def test_policy_drift_reports_each_difference(db: Database) -> None:
    db.conn.execute("drop policy users_select_own on users")
    db.conn.execute("alter table quizzes disable row level security")
    db.conn.execute(
        'create policy "Allow all access to tutor_chats" on tutor_chats using (true) with check (true)'
    )
    db.conn.execute("alter policy topics_delete_own on topics using (true)")
    found = {f.object: f.detail for f in run(db, "policy_drift").results[0].findings}
    assert found == {
        "public.quizzes:rls-off": "row level security is disabled",
        "public.tutor_chats.Allow all access to tutor_chats": 'policy "Allow all access to tutor_chats" '
        "is not in the file (live: for all to public using true with check true)",
        "public.users.users_select_own": 'policy "users_select_own" is missing (file: for select to '
        "authenticated using (id = ( SELECT app.current_user_id() AS current_user_id)))",
        "public.topics.topics_delete_own": found["public.topics.topics_delete_own"],
    }
    assert found["public.topics.topics_delete_own"].startswith('policy "topics_delete_own" differs file: ')
    assert found["public.topics.topics_delete_own"].endswith(" live: for delete to authenticated using true")


def test_policy_drift_never_runs_a_changed_file_it_reports_it(db: Database, tmp_path: Path) -> None:
    """Checking a file new or changed since its last apply would mean running it; the check is
    read-only, so the file is a finding, and nothing is locked or changed."""
    policy_dir = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policy_dir)
    path = policy_dir / "plan_cache.sql"
    path.write_text(path.read_text() + "\n-- reviewed\n")
    (policy_dir / "archive.notes.sql").write_text("alter table archive.notes enable row level security;\n")
    db.conn.execute("create table archive.notes (id int)")
    before = db.scalar("select count(*) from pg_policy")
    (r,) = run(db, "policy_drift", settings=db.settings(policies_dir=str(policy_dir))).results
    assert {f.object: f.detail.split(";")[0] for f in r.findings} == {
        "archive.notes:not-applied": f"{policy_dir / 'archive.notes.sql'} was never applied",
        "public.plan_cache:not-applied": f"{path} changed since its last apply",
    }
    assert db.scalar("select count(*) from pg_policy") == before
    assert db.scalar("select relrowsecurity from pg_class where oid = 'archive.notes'::regclass") is False


def test_policy_drift_without_a_policies_directory_is_unknown(db: Database, tmp_path: Path) -> None:
    (r,) = run(db, "policy_drift", settings=db.settings(policies_dir=str(tmp_path / "none"))).results
    assert r.status == "unknown"
    assert r.reason.startswith(f"policies directory not found: {tmp_path / 'none'} (pass --policies-dir")
