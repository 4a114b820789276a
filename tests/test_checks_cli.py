"""`dbops check` on the command line: messages, exit codes, JSON and SARIF; the acceptance run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from ops import migrations
from tests.checkhelp import run, seed_policies
from tests.conftest import Database
from tests.server import ROOT

SAMPLE_DATA = """
insert into users (id, name, email) values
    ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'ann', 'ann@example.org'),
    ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'bob', null);
insert into study_sessions (id, user_id, exam_type, current_state) values
    ('cccccccc-cccc-cccc-cccc-cccccccccccc', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'GRE', 'LEARNING');
insert into topics (id, session_id, name, mastery_score) values
    ('dddddddd-dddd-dddd-dddd-dddddddddddd', 'cccccccc-cccc-cccc-cccc-cccccccccccc', 'algebra', 40);
insert into misconceptions (user_id, topic_id, description) values
    ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'dddddddd-dddd-dddd-dddd-dddddddddddd', 'sign errors');
insert into tutor_chats (user_id, topic_id, messages, explanation) values
    ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'dddddddd-dddd-dddd-dddd-dddddddddddd', '[]', 'slopes');
insert into quizzes (user_id, topic_id, questions) values
    ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'dddddddd-dddd-dddd-dddd-dddddddddddd', '[]');
insert into plan_cache (cache_key, plan) values ('GRE:abc', '{}');
analyze;
"""


def test_seed_policies_fire_before_policies_apply_and_not_after(empty_db: Database, run_cli: Any) -> None:
    """The migrations alone (no policies step) leave the seed's permissive policies; the real
    `dbops policies apply` replaces them with policies/, and both checks go quiet."""
    migrations.migrate(empty_db.conn, empty_db.settings())
    before = run_cli("check", "--only", "rls_policy_always_true", url=empty_db.url)
    assert before.exit_code == 1
    assert "error     rls_policy_always_true:public.quizzes.Allow all access to quizzes" in before.output
    assert before.output.splitlines()[-1] == (
        "1 checks: 0 passed, 1 with findings, 0 waived, 0 unknown; findings: 3 error, 0 warning, 0 info"
    )
    drift = run_cli("check", "--only", "policy_drift", url=empty_db.url)
    assert drift.exit_code == 1
    (line,) = [x for x in drift.output.splitlines() if "policy_drift:public.quizzes:" in x]
    assert line.startswith("error     policy_drift:public.quizzes:not-applied ")
    assert line.split("  ")[-1].startswith("policies/quizzes.sql was never applied; ")
    assert drift.output.splitlines()[-1].endswith("findings: 12 error, 0 warning, 0 info")
    applied = run_cli("policies", "apply", url=empty_db.url)
    assert applied.exit_code == 0, applied.output
    after = run_cli("check", "--only", "rls_policy_always_true", "--only", "policy_drift", url=empty_db.url)
    assert (after.exit_code, after.output) == (
        0,
        "2 checks: 2 passed, 0 with findings, 0 waived, 0 unknown; findings: 0 error, 0 warning, 0 info\n",
    )


def test_acceptance_migrated_policies_applied_sample_data(empty_db: Database, run_cli: Any) -> None:
    """Freshly migrated by `dbops migrate` (which applies policies/), with sample data: exit 0,
    no error-level finding, and every check ran (none unknown)."""
    migrated = run_cli("migrate", url=empty_db.url)
    assert migrated.exit_code == 0, migrated.output
    assert run_cli("policies", "diff", url=empty_db.url).exit_code == 0
    empty_db.conn.execute(SAMPLE_DATA)
    report = run(empty_db)
    assert [r.check for r in report.unknown] == []
    assert [f.id for f in report.findings if f.severity == "error" and not f.waived] == []
    assert len(report.results) >= 36 and report.exit_code == 0
    cli = run_cli("check", url=empty_db.url)
    assert cli.exit_code == 0, cli.output
    assert " 0 unknown; findings: 0 error, " in cli.output.splitlines()[-1]


def test_fail_on_and_unknown_exit_codes(db: Database, run_cli: Any, tmp_path: Path) -> None:
    assert run_cli("check", "--only", "extension_in_public", url=db.url).exit_code == 0
    warn = run_cli("check", "--only", "extension_in_public", "--fail-on", "warning", url=db.url)
    assert warn.exit_code == 1
    assert "warning   extension_in_public:vector  extension vector" in warn.output
    nowhere = str(tmp_path / "nowhere")
    unknown = run_cli("--policies-dir", nowhere, "check", "--only", "policy_drift", url=db.url)
    assert unknown.exit_code == 1
    assert f"UNKNOWN policy_drift: policies directory not found: {nowhere}" in unknown.output
    assert unknown.output.endswith(
        "not an all-clear: unknown checks did not run (fix the reason, or pass --allow-unknown)\n"
    )
    allowed = run_cli(
        "--policies-dir", nowhere, "check", "--only", "policy_drift", "--allow-unknown", url=db.url
    )
    assert allowed.exit_code == 0


def test_output_says_warning_and_the_old_word_still_reads(db: Database, run_cli: Any) -> None:
    """One severity vocabulary (error, warning, info) in text, JSON, SARIF and --list; `warn`
    still reads as a fail-on level."""
    text = run_cli("check", "--only", "extension_in_public", "--fail-on", "warn", url=db.url)
    assert text.exit_code == 1
    assert text.output.splitlines()[-1].endswith("findings: 0 error, 1 warning, 0 info")
    assert not re.search(r"\bwarn\b", text.output), text.output
    data = json.loads(run_cli("--json", "check", "--only", "extension_in_public", url=db.url).output)
    assert data["results"][0]["severity"] == data["findings"][0]["severity"] == "warning"
    sarif = json.loads(
        run_cli("check", "--format", "sarif", "--only", "extension_in_public", url=db.url).output
    )
    assert sarif["runs"][0]["results"][0]["level"] == "warning"
    listed = json.loads(run_cli("--json", "check", "--list").output)
    assert {c["severity"] for c in listed} == {"error", "warning", "info"}


def test_usage_errors_exit_2(db: Database, run_cli: Any) -> None:
    bad = run_cli("check", "--only", "no_such_check", url=db.url)
    assert bad.exit_code == 2
    assert "Error: no check 'no_such_check'\nHint: list the checks with `dbops check --list`\n" in bad.output
    assert run_cli("check", "--fail-on", "fatal", url=db.url).exit_code == 2


@pytest.fixture
def waiving_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project that waives pgvector's place in public, with the shipped checks and policies."""
    shutil.copytree(ROOT / "checks", tmp_path / "checks")
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    (tmp_path / "pyproject.toml").write_text(
        "[tool.dbops]\n\n[tool.dbops.checks.waivers]\n"
        '"extension_in_public:vector" = { reason = "pgvector stays where the seed put it" }\n'
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_waived_findings_are_shown_with_their_reason(
    db: Database, run_cli: Any, waiving_project: Path
) -> None:
    out = run_cli("check", "--only", "extension_in_public", "--fail-on", "warn", url=db.url)
    assert out.exit_code == 0
    assert out.output.startswith("waived extension_in_public:vector: pgvector stays where the seed put it")


def test_json_output(db: Database, run_cli: Any) -> None:
    out = run_cli("--json", "check", "--only", "extension_in_public", url=db.url)
    data = json.loads(out.output)
    (r,) = data["results"]
    assert (r["check"], r["status"], r["findings"][0]["id"]) == (
        "extension_in_public",
        "failed",
        "extension_in_public:vector",
    )
    assert data["exit_code"] == 0 and data["unknown"] == []
    assert json.loads(run_cli("check", "--format", "json", "--only", "xid_age", url=db.url).output)["results"]


def test_sarif_output(db: Database, run_cli: Any, waiving_project: Path) -> None:
    seed_policies(db)
    out = run_cli(
        "check",
        "--format",
        "sarif",
        "--only",
        "rls_policy_always_true",
        "--only",
        "extension_in_public",
        "--only",
        "policy_drift",
        url=db.url,
    )
    sarif = json.loads(out.output)
    assert sarif["version"] == "2.1.0"
    (run_,) = sarif["runs"]
    rules = {r["id"]: r for r in run_["tool"]["driver"]["rules"]}
    assert rules["rls_policy_always_true"]["help"]["text"].startswith(
        "Replace the policy with one whose USING"
    )
    assert rules["rls_policy_always_true"]["defaultConfiguration"]["level"] == "error"
    results = {r["partialFingerprints"]["dbopsFindingId/v1"]: r for r in run_["results"]}
    quizzes = results["rls_policy_always_true:public.quizzes.Allow all access to quizzes"]
    location = quizzes["locations"][0]
    assert location["logicalLocations"][0]["name"] == "public.quizzes.Allow all access to quizzes"
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "checks/rls_policy_always_true.sql"
    vector = results["extension_in_public:vector"]
    assert vector["suppressions"][0]["kind"] == "external"
    drift = results["policy_drift:public.quizzes.quizzes_select_own"]
    assert drift["level"] == "error" and drift["ruleId"] == "policy_drift"
    drift_file = drift["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert drift_file == "pyproject.toml"  # a Python-backed check: its configuration, not a file in ops/
    assert drift["message"]["text"].startswith(
        'public.quizzes.quizzes_select_own: policy "quizzes_select_own" is missing (file: for select '
    )
    invocation = run_["invocations"][0]
    assert invocation["executionSuccessful"] is True
    assert not invocation.get("toolExecutionNotifications")


def test_list_names_every_check(run_cli: Any) -> None:
    out = run_cli("--json", "check", "--list")
    checks = json.loads(out.output)
    assert len(checks) >= 37
    assert {"id", "severity", "category", "description", "remediation", "deep"} <= set(checks[0])
    assert {c["category"] for c in checks} == {
        "security",
        "integrity",
        "performance",
        "migration",
        "physical",
    }


def test_help_is_documented(run_cli: Any) -> None:
    out = run_cli("check", "--help")
    for option in ("--only", "--category", "--deep", "--fail-on", "--format", "--allow-unknown", "--schema"):
        assert option in out.output
    readme = (__import__("pathlib").Path(__file__).parent.parent / "README.md").read_text()
    assert "dbops check" in readme and "[tool.dbops.checks.waivers]" in readme


def test_list_takes_format_json_as_json_and_refuses_sarif(run_cli: Any) -> None:
    as_format = run_cli("check", "--list", "--format", "json")
    assert as_format.exit_code == 0, as_format.output
    assert as_format.stdout == run_cli("--json", "check", "--list").stdout
    assert {c["id"] for c in json.loads(as_format.stdout)} >= {"table_without_primary_key"}
    sarif = run_cli("check", "--list", "--format", "sarif")
    assert sarif.exit_code == 2 and "Hint: use --list --format json" in sarif.stderr
