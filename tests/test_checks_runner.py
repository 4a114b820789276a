"""The runner: never a false all-clear (unknown), read-only, waivers, timeouts, config, exit codes."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from ops.checks import CheckConfig, CheckResult, Waiver, check_from_file, load_check_config, run_checks
from ops.errors import ConfigError
from tests.checkhelp import objects, result, run, seed_policies
from tests.conftest import Database

HEADER = """-- id: {id}
-- severity: warn
-- category: integrity
-- description: test check
-- remediation: none
"""


def _checks_dir(tmp_path: Path, **files: str) -> Path:
    d = tmp_path / "checks"
    d.mkdir()
    for name, body in files.items():
        (d / f"{name}.sql").write_text(HEADER.format(id=name) + body)
    return d


# -- unknown, never passed -------------------------------------------------------------------


def _role(db: Database, name: str, *grants: str) -> str:
    db.conn.execute("select 1 from pg_roles where rolname = %s", (name,))
    if not db.scalar("select 1 from pg_roles where rolname = %s", (name,)):
        db.conn.execute(f"create role \"{name}\" login nosuperuser nobypassrls nocreatedb password 'pw'")
    for g in grants:
        db.conn.execute(g)
    return make_conninfo(db.url, user=name, password="pw")


DATA_CHECKS = {
    "orphan_tutor_chats_user",
    "orphan_quizzes_user",
    "orphan_misconceptions_user",
    "mastery_score_out_of_range",
    "current_state_not_a_phase",
    "updated_at_before_created_at",
    "topic_owner_mismatch",
    "plan_cache_expired_backlog",
    "table_bloat",
    "index_bloat",
    "table_never_analyzed",
    "migration_pending",
    "migration_edited",
    "migration_missing_file",
    "schema_drift",
    "policy_drift",
}


def test_an_unprivileged_role_gets_unknown_not_a_pass(db: Database) -> None:
    url = _role(db, "dbops_check_nobody")
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute(
            "select rolsuper or rolbypassrls from pg_roles where rolname = current_user"
        ).fetchone() == (False,)
        report = run_checks(conn, db.settings(), CheckConfig(), conninfo=url)
    status = {r.check: r for r in report.results}
    for check in DATA_CHECKS:
        assert status[check].status == "unknown", (check, status[check])
        assert status[check].reason
    assert status["orphan_tutor_chats_user"].reason.startswith("not allowed: ")
    assert "permission denied" in status["migration_pending"].reason
    assert status["table_bloat"].reason.startswith("cannot fully read archive.misconceptions, ")
    assert report.exit_code == 1
    # catalog checks still run for it: they need no privilege
    assert status["fk_without_index"].status == "passed"


def test_rows_hidden_by_rls_make_a_check_unknown(db: Database) -> None:
    url = _role(db, "dbops_check_member", "grant authenticated to dbops_check_member")
    only = ("orphan_tutor_chats_user", "updated_at_before_created_at")

    def run_as_member() -> tuple[CheckResult, ...]:
        with psycopg.connect(url, autocommit=True) as conn:
            return run_checks(conn, db.settings(), CheckConfig(), conninfo=url, only=only).results

    chats, sessions = run_as_member()
    assert (chats.status, sessions.status) == ("unknown", "unknown")
    assert "row-level security" in chats.reason
    assert "row-level security" in sessions.reason
    # the same role with RLS off on study_sessions (the seed's state) sees every row: a pass
    seed_policies(db)
    assert db.scalar("select relrowsecurity from pg_class where oid = 'study_sessions'::regclass") is False
    chats, sessions = run_as_member()
    assert (chats.status, sessions.status) == ("unknown", "passed")


def test_a_timeout_is_unknown(db: Database, tmp_path: Path) -> None:
    d = _checks_dir(tmp_path, slow_check="select 'x' as object, 'slow' as detail from pg_sleep(2)")
    report = run(db, "slow_check", settings=db.settings(checks_dir=str(d)), statement_timeout_ms=200)
    (r,) = report.results
    assert r.status == "unknown"
    assert r.reason == "timed out after 200 ms (raise statement_timeout in [tool.dbops.checks])"


def test_checks_cannot_write(db: Database, tmp_path: Path) -> None:
    d = _checks_dir(
        tmp_path,
        sneaky="insert into plan_cache (cache_key, plan) values ('w', '{}') "
        "returning cache_key as object, 'x' as detail",
    )
    (r,) = run(db, "sneaky", settings=db.settings(checks_dir=str(d))).results
    assert r.status == "unknown"
    assert "read-only transaction" in r.reason
    assert not r.corruption
    assert db.scalar("select count(*) from plan_cache") == 0


def test_a_check_without_object_and_detail_is_unknown(db: Database, tmp_path: Path) -> None:
    d = _checks_dir(tmp_path, shapeless="select 1 as n")
    (r,) = run(db, "shapeless", settings=db.settings(checks_dir=str(d))).results
    assert (r.status, r.reason) == ("unknown", "the check's SELECT has no object and detail columns")


def test_a_missing_extension_is_unknown(db: Database, tmp_path: Path) -> None:
    d = _checks_dir(
        tmp_path, stats="-- requires: extension:pg_stat_statements\nselect 'x' as object, '' as detail"
    )
    (r,) = run(db, "stats", settings=db.settings(checks_dir=str(d))).results
    assert (r.status, r.reason) == (
        "unknown",
        "needs the pg_stat_statements extension (CREATE EXTENSION pg_stat_statements)",
    )


def test_check_headers_are_validated(tmp_path: Path) -> None:
    p = tmp_path / "bad.sql"
    p.write_text(
        "-- id: bad\n-- severity: fatal\n-- category: integrity\n"
        "-- description: d\n-- remediation: r\nselect 1"
    )
    with pytest.raises(ConfigError, match="severity 'fatal'"):
        check_from_file(p)
    p.write_text("-- id: bad\nselect 1")
    with pytest.raises(
        ConfigError,
        match="missing header line[(]s[)]: -- severity:, -- category:, -- description:, -- remediation:",
    ):
        check_from_file(p)


# -- index_invalid: a failed build fires, a build in progress does not -------------------------


def test_index_invalid_fires_on_a_failed_concurrent_build(db: Database) -> None:
    db.conn.execute(
        "insert into plan_cache (cache_key, plan, created_at) "
        "values ('a', '{}', 'epoch'), ('b', '{}', 'epoch')"
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.conn.execute("create unique index concurrently plan_cache_created_uniq on plan_cache (created_at)")
    assert objects(db, "index_invalid") == ["public.plan_cache_created_uniq"]


def test_index_invalid_ignores_an_index_being_built_concurrently(db: Database) -> None:
    blocker = psycopg.connect(db.url)
    blocker.execute("insert into plan_cache (cache_key, plan) values ('x', '{}')")  # an open writer
    builder = psycopg.connect(db.url, autocommit=True)
    thread = threading.Thread(
        target=builder.execute,
        args=("create index concurrently plan_cache_created on plan_cache (created_at)",),
    )
    thread.start()
    try:
        deadline = time.monotonic() + 300  # a hang guard: the build starts at once
        while db.scalar("select to_regclass('public.plan_cache_created')") is None:
            assert time.monotonic() < deadline, "the index build never started"
            time.sleep(0.05)
        assert (
            db.scalar("select indisvalid from pg_index where indexrelid = 'plan_cache_created'::regclass")
            is False
        )
        assert objects(db, "index_invalid") == []
    finally:
        blocker.rollback()
        blocker.close()
        thread.join(30)
        builder.close()
    assert (
        db.scalar("select indisvalid from pg_index where indexrelid = 'plan_cache_created'::regclass") is True
    )


def test_unused_replication_slot(db: Database) -> None:
    """Slots are cluster-wide: the test's own slot is dropped whatever happens."""
    name = f"dbops_test_idle_{db.conn.info.backend_pid}"
    db.conn.execute("select pg_create_physical_replication_slot(%s, true)", (name,))
    try:
        assert name in objects(
            db, "unused_replication_slot", params={"replication_slot_retained_min_bytes": 0}
        )
        assert name not in objects(db, "unused_replication_slot")  # retains less than the default 1 GB
    finally:
        db.conn.execute("select pg_drop_replication_slot(%s)", (name,))
    assert name not in objects(
        db, "unused_replication_slot", params={"replication_slot_retained_min_bytes": 0}
    )


# -- waivers -------------------------------------------------------------------------------------


def test_a_waived_finding_does_not_fail(db: Database) -> None:
    report = run(
        db,
        "extension_in_public",
        fail_on="warn",
        waivers=(Waiver("extension_in_public:vector", "pgvector lives here"),),
    )
    (r,) = report.results
    assert r.status == "waived"
    assert r.findings[0].waived and r.findings[0].waiver_reason == "pgvector lives here"
    assert report.exit_code == 0


def test_an_expired_waiver_is_reported_and_the_finding_counts(db: Database) -> None:
    waiver = Waiver("extension_in_public:vector", "until the move", date(2020, 1, 1))
    report = run(db, "extension_in_public", fail_on="warn", waivers=(waiver,))
    assert report.results[0].status == "failed"
    assert [(n.id, n.problem) for n in report.waiver_notes] == [("extension_in_public:vector", "expired")]
    assert report.exit_code == 1
    future = run(
        db, "extension_in_public", fail_on="warn", waivers=(replace(waiver, expires=date(2999, 1, 1)),)
    )
    assert future.exit_code == 0


def test_a_waiver_matching_nothing_is_reported(db: Database) -> None:
    report = run(db, "extension_in_public", waivers=(Waiver("extension_in_public:postgis", "r"),))
    assert [(n.id, n.problem) for n in report.waiver_notes] == [("extension_in_public:postgis", "unused")]


def test_the_project_needs_no_waiver_for_anon(db: Database) -> None:
    """app.login is the backend's (service_role, 0017): nothing anon may run is waived."""
    config = load_check_config(db.settings(), {})
    assert not [w for w in config.waivers if "anon" in w.id]
    report = run(db, "security_definer_executable_by_anon", waivers=config.waivers)
    assert report.results[0].status == "passed"
    assert report.waiver_notes == ()


def test_waiver_config_is_validated(db: Database) -> None:
    settings = replace(db.settings(), tool={"checks": {"waivers": {"x:y": {"expires": "2027-01-01"}}}})
    with pytest.raises(ConfigError, match="waiver 'x:y' has no reason"):
        load_check_config(settings, {})
    settings = replace(
        db.settings(), tool={"checks": {"waivers": {"x:y": {"reason": "r", "expires": "soon"}}}}
    )
    with pytest.raises(ConfigError, match="expires 'soon' is not a date"):
        load_check_config(settings, {})


# -- configuration and exit codes ------------------------------------------------------------------


def test_schema_precedence_flag_env_file_default(db: Database) -> None:
    settings = replace(db.settings(), tool={"checks": {"schemas": ["archive"]}})
    assert load_check_config(settings, {}).schemas == ("archive",)
    assert load_check_config(settings, {"DBOPS_CHECK_SCHEMAS": "app, public"}).schemas == ("app", "public")
    assert load_check_config(settings, {"DBOPS_CHECK_SCHEMAS": "app"}, schemas=("public",)).schemas == (
        "public",
    )
    assert load_check_config(replace(settings, tool={}), {}).schemas is None


def test_only_inspected_schemas_are_checked(db: Database) -> None:
    db.conn.execute(
        "create table archive.notes (id int); alter table archive.notes enable row level security"
    )
    assert objects(db, "rls_enabled_no_policy", schemas=("public",)) == []
    assert objects(db, "rls_enabled_no_policy") == ["archive.notes"]


def test_fail_on_levels(db: Database) -> None:
    assert run(db, "extension_in_public").exit_code == 0
    assert run(db, "extension_in_public", fail_on="warn").exit_code == 1
    every_index = {"unused_index_min_table_scans": 0}  # info findings on the migrated database
    assert run(db, "unused_index", fail_on="warn", params=every_index).exit_code == 0
    assert run(db, "unused_index", fail_on="info", params=every_index).exit_code == 1
    assert run(db, "rls_policy_always_true", fail_on="none").exit_code == 0


def test_unknown_fails_unless_allowed(db: Database, tmp_path: Path) -> None:
    settings = db.settings(policies_dir=str(tmp_path / "none"))  # policy_drift cannot compare
    assert run(db, "policy_drift", settings=settings).results[0].status == "unknown"
    assert run(db, "policy_drift", settings=settings).exit_code == 1
    assert run(db, "policy_drift", settings=settings, allow_unknown=True).exit_code == 0
    assert run(db, "policy_drift").exit_code == 0


def test_a_finding_id_is_check_and_object(db: Database) -> None:
    (f,) = [f for f in result(db, "extension_in_public").findings]
    assert (f.id, f.severity, f.category) == ("extension_in_public:vector", "warning", "security")
    assert f.remediation.startswith("Install extensions in their own schema")


def test_a_selection_that_matches_nothing_is_refused(db: Database) -> None:
    with pytest.raises(
        ConfigError, match="no check matches --only extension_in_public and --category integrity"
    ):
        run_checks(
            db.conn,
            db.settings(),
            CheckConfig(),
            conninfo=db.url,
            only=("extension_in_public",),
            categories=("integrity",),
        )


def test_asking_for_the_physical_category_runs_the_deep_checks(db: Database) -> None:
    report = run_checks(db.conn, db.settings(), CheckConfig(), conninfo=db.url, categories=("physical",))
    assert [r.check for r in report.results] == ["amcheck_btree", "amcheck_heap"]


def test_a_missing_schema_is_refused_not_passed(db: Database) -> None:
    with pytest.raises(ConfigError, match="schema nosuch does not exist in "):
        run(db, "rls_disabled", schemas=("public", "nosuch"))


def test_a_check_blocked_by_a_lock_is_unknown(db: Database) -> None:
    with psycopg.connect(db.url) as holder:
        holder.execute("lock table plan_cache in access exclusive mode")
        report = run(db, "plan_cache_expired_backlog", "extension_in_public", statement_timeout_ms=300)
        holder.rollback()
    by_check = {r.check: r for r in report.results}
    backlog, extension = by_check["plan_cache_expired_backlog"], by_check["extension_in_public"]
    assert backlog.status == "unknown"
    assert backlog.reason.startswith(("waited too long for a lock: ", "timed out after 300 ms"))
    assert extension.status == "failed"  # the run goes on after it
