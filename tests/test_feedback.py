"""Feedback and noise: hints that point the right way, quiet success, findings once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SERVER, Database
from tests.processes import clean_env
from tests.server import ROOT

# --- hints that point the right way -----------------------------------------------------


def test_a_missing_database_on_a_running_server_is_not_told_to_start_a_server(run_cli: Any) -> None:
    result = run_cli("status", url=SERVER.url("no_such_database"))
    assert result.exit_code == 3
    assert 'database "no_such_database" does not exist' in result.output
    assert "dbops db start" not in result.output
    assert "Hint: create it (createdb no_such_database) or fix the database name in the URL" in result.output


def test_an_unreachable_server_is_not_told_to_start_the_embedded_one(run_cli: Any) -> None:
    result = run_cli("status", url="postgresql://nobody@127.0.0.1:1/x?connect_timeout=2")
    assert result.exit_code == 3
    assert "dbops db start" not in result.output
    assert "Hint: check that the server at 127.0.0.1:1 is running and the URL is right" in result.output


def test_a_failed_dry_run_says_nothing_stays_applied(project: Path, db: Database, run_cli: Any) -> None:
    (project / "migrations" / "0099_broken.sql").write_text(
        "-- depends:\nselect no_such_column from users;\n", encoding="utf-8"
    )
    (project / "migrations" / "0099_broken.rollback.sql").write_text("select 1;\n", encoding="utf-8")
    result = run_cli("--migrations-dir", str(project / "migrations"), "migrate", "--dry-run", url=db.url)
    assert result.exit_code == 4, result.output
    assert "stay applied" not in result.output
    assert "Hint: fix the file and run `dbops migrate --dry-run` again; dry run: nothing was changed" in (
        result.output
    )


def test_permission_denied_for_an_extension_names_who_can_create_it(empty_db: Database, run_cli: Any) -> None:
    role = f"ux_owner_{empty_db.conn.info.backend_pid}"
    empty_db.conn.execute(f"create role {role} login")
    try:
        empty_db.conn.execute(f"grant create on database {empty_db.conn.info.dbname} to {role}")
        empty_db.conn.execute(f"grant create on schema public to {role}")
        url = empty_db.url + f" user={role}"
        result = run_cli("migrate", "--to", "0001", url=url)
        assert result.exit_code == 4, result.output
        assert "permission denied to create extension" in result.output
        assert "fix the file" not in result.output
        assert "Hint: ask a superuser to run `create extension" in result.output
    finally:
        empty_db.conn.execute(f"drop owned by {role}")
        empty_db.conn.execute(f"drop role {role}")


def test_a_rule_of_the_other_kind_reads_as_english(db: Database, run_cli: Any) -> None:
    result = run_cli("evict", "quizzes", url=db.url)
    assert result.exit_code == 2
    assert "Error: rule 'quizzes' is an archive rule" in result.output
    other = run_cli("archive", "plan_cache", url=db.url)
    assert "Error: rule 'plan_cache' is a ttl rule" in other.output


# --- quiet success ---------------------------------------------------------------------


def test_policies_apply_prints_only_what_changed(db: Database, run_cli: Any) -> None:
    quiet = run_cli("policies", "apply", url=db.url)
    assert quiet.exit_code == 0, quiet.output
    lines = quiet.output.splitlines()
    assert not any(" to " in line and "no change" in line for line in lines), quiet.output
    assert lines[-1].endswith("0 table(s) changed")
    loud = run_cli("-v", "policies", "apply", url=db.url)
    assert sum("no change" in line for line in loud.output.splitlines()) >= 5

    db.conn.execute("drop policy users_select_own on users")
    changed = run_cli("policies", "apply", url=db.url)
    (shown,) = [line for line in changed.output.splitlines() if line.startswith("applied ")]
    assert "policies/users.sql to public.users" in shown and "no change" not in shown


# --- lint: findings once, waived as a count ---------------------------------------------


def _typo_project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.dbops]\n", encoding="utf-8")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_a.sql").write_text("-- depends:\ncreate tabel foo (id int);\n")
    (tmp_path / "migrations" / "0001_a.rollback.sql").write_text("drop table foo;\n")
    return tmp_path


def test_one_typo_is_one_finding(tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(_typo_project(tmp_path))
    result = run_cli("--json", "lint", "--processes", "1")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert [(f["path"], f["line"], f["level"]) for f in findings] == [("migrations/0001_a.sql", 2, "error")]


def test_waived_findings_are_a_count_unless_asked(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    case = "tests/fixtures/lint/waivers"
    plain = run_cli("lint", "--processes", "1", "--fail-on", "never", case)
    assert not any(line.startswith("waived ") for line in plain.output.splitlines()), plain.output
    assert "waived (--show-waived lists them)" in plain.output
    listed = run_cli("lint", "--processes", "1", "--fail-on", "never", "--show-waived", case)
    assert any(line.startswith("waived ") for line in listed.output.splitlines()), listed.output


@pytest.mark.slow
def test_lint_on_the_clean_tree_is_silent_on_stderr() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ops", "lint"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""


# --- check's SARIF points at the user's files -------------------------------------------


def test_check_sarif_never_points_into_the_tool(db: Database, run_cli: Any) -> None:
    db.conn.execute("drop policy users_select_own on users")  # policy_drift is a Python-backed check
    result = run_cli("check", "--only", "policy_drift", "--format", "sarif", "--fail-on", "none", url=db.url)
    sarif = json.loads(result.stdout)
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for run in sarif["runs"]
        for res in run["results"]
        for loc in res.get("locations", [])
        if "physicalLocation" in loc
    }
    assert uris, "the run has findings with locations"
    assert not any(uri.startswith("ops/") or uri.endswith(".py") for uri in uris), uris
