"""`dbops lint`: each own rule fires on its fixture and stays quiet on the clean one; squawk's
unsafe-migration rules come through; waivers; every output format; exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ops.config import Settings, load_settings
from ops.lint import LintReport, file_findings, lint
from ops.lint.rules.migrations import RULES
from ops.lint.rules.safety import RULES as SAFETY_RULES
from ops.lint.statements import parse_sql, waiver_scope
from tests.server import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "lint"
REL = "tests/fixtures/lint"

# case -> the exact (file within the case, line, rule) findings it must produce
EXPECTED: dict[str, set[tuple[str, int, str]]] = {
    "clean": set(),
    "migration_gap": {("migrations/0003_c.sql", 1, "migration-gap")},
    "migration_duplicate": {("migrations/0001_b.sql", 1, "migration-duplicate-id")},
    "migration_no_rollback": {("migrations/0001_a.sql", 1, "migration-no-rollback")},
    "rollback_orphan": {("migrations/0002_b.rollback.sql", 1, "rollback-orphan")},
    "migration_unknown_depends": {("migrations/0002_b.sql", 1, "migration-unknown-depends")},
    "migration_depends_order": {("migrations/0001_a.sql", 1, "migration-depends-order")},
    "migration_no_depends": {("migrations/0002_b.sql", 1, "migration-no-depends")},
    "migration_filename": {("migrations/add_b.sql", 1, "migration-filename")},
    "non_transactional_statement": {("migrations/0002_b.sql", 5, "non-transactional-statement")},
    "non_transactional_not_rerunnable": {
        ("migrations/0002_b.sql", 4, "non-transactional-not-rerunnable"),
        ("migrations/0002_b.sql", 4, "prefer-robust-stmts"),
    },
    "squawk_unsafe": {
        ("migrations/0002_b.sql", 3, "require-concurrent-index-creation"),
        ("migrations/0002_b.sql", 4, "adding-required-field"),
        ("migrations/0002_b.sql", 5, "constraint-missing-not-valid"),
        ("migrations/0002_b.sql", 5, "adding-foreign-key-constraint"),
        ("migrations/0002_b.sql", 6, "constraint-missing-not-valid"),
        ("migrations/0002_b.rollback.sql", 4, "require-concurrent-index-deletion"),
    },
    "policy_no_rls": {("policies/notes.sql", 1, "policy-no-rls")},
    "policy_other_table": {
        ("policies/notes.sql", 8, "policy-other-table"),
        ("policies/notes.sql", 13, "policy-other-table"),
    },
    "policy_always_true_write": {
        ("policies/notes.sql", 3, "policy-always-true-write"),
        ("policies/notes.sql", 7, "policy-always-true-write"),
        ("policies/notes.sql", 7, "policy-multiple-permissive"),  # both admit anon's INSERTs
    },
    "policy_per_row_call": {
        ("policies/notes.sql", 5, "policy-per-row-call"),
        ("policies/notes.sql", 10, "policy-per-row-call"),
    },
    "policy_null_caller_disjunct": {("policies/notes.sql", 5, "policy-null-caller-disjunct")},
    "policy_multiple_permissive": {("policies/notes.sql", 7, "policy-multiple-permissive")},
    "check_header": {("checks/missing.sql", 1, "check-header"), ("checks/missing.sql", 2, "check-header")},
    "check_single_select": {
        ("checks/not_select.sql", 6, "check-single-select"),
        ("checks/not_select.sql", 6, "check-read-only"),
        ("checks/two.sql", 11, "check-single-select"),
    },
    "check_read_only": {
        ("checks/locks.sql", 10, "check-read-only"),
        ("checks/sequence.sql", 8, "check-read-only"),
        ("checks/writes.sql", 7, "check-read-only"),
    },
    "check_duplicate_id": {("checks/second.sql", 1, "check-duplicate-id")},
    # one statement that does not parse is one finding: PostgreSQL's parser (through squawk)
    # names the real error; sqlfluff's PRS for the same place goes
    "sqlfluff_parse": {("policies/broken.sql", 3, "syntax-error")},
    # sqlfluff cannot parse schema-qualified DETACH/ATTACH PARTITION: notes, and the safety
    # rules still read them (DETACH ... CONCURRENTLY in a non-transactional file is fine)
    "partition_detach": {
        ("migrations/0002_b.sql", 4, "PRS"),
        ("migrations/0002_b.rollback.sql", 3, "PRS"),
    },
    # PostgreSQL's lexer cannot read the file: one finding, not also sqlfluff's or squawk's
    "unreadable_sql": {("policies/notes.sql", 3, "unreadable-sql")},
    "sqlfluff_style": {("checks/style.sql", 8, "CP01"), ("checks/style.sql", 9, "CP01")},
    "waivers": {
        ("migrations/0002_b.sql", 5, "require-concurrent-index-creation"),
        ("migrations/0002_b.sql", 5, "waiver-no-reason"),
        ("migrations/0002_b.sql", 6, "waiver-unused"),
    },
}
NOTES_ONLY = {"partition_detach"}  # findings, but notes: they fail no run
BAD_CASES = sorted(case for case, expected in EXPECTED.items() if expected and case not in NOTES_ONLY)


def root_settings(**flags: Any) -> Settings:
    return load_settings(flags, {}, ROOT)


@pytest.fixture(scope="module")
def fixture_report() -> LintReport:
    """All fixtures linted at once (over 40 files: sqlfluff's parallel mode)."""
    return lint(root_settings(), [FIXTURES], cwd=ROOT)


def by_case(report: LintReport, case: str) -> set[tuple[str, int, str]]:
    prefix = f"{REL}/{case}/"
    return {
        (f.path.removeprefix(prefix), f.line, f.rule) for f in report.findings if f.path.startswith(prefix)
    }


def test_every_fixture_case_is_covered() -> None:
    assert sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) == sorted(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_fixture_findings_are_exactly_the_expected(fixture_report: LintReport, case: str) -> None:
    assert by_case(fixture_report, case) == EXPECTED[case]


def test_every_own_rule_fires_somewhere_and_the_clean_fixture_stays_quiet(fixture_report: LintReport) -> None:
    fired = {f.rule for f in fixture_report.findings if f.source == "dbops"}
    assert fired == set(RULES)
    clean = [f for f in fixture_report.files if f.startswith(f"{REL}/clean/")]
    assert len(clean) == 8  # migrations (transactional, CONCURRENTLY, batched DO), a policy, a check
    assert by_case(fixture_report, "clean") == set()


def test_sources_and_levels(fixture_report: LintReport) -> None:
    sources = {f.rule: f.source for f in fixture_report.findings}
    assert sources["PRS"] == "sqlfluff" and sources["adding-required-field"] == "squawk"
    assert sources["policy-no-rls"] == "dbops"
    levels = {f.rule: f.level for f in fixture_report.findings}
    assert levels["PRS"] == "note" and levels["syntax-error"] == "error" and levels["CP01"] == "warning"
    assert levels["adding-required-field"] == "warning" and levels["migration-no-depends"] == "warning"
    assert set(fixture_report.timings) == {"sqlfluff", "squawk", "dbops", "total"}


def test_messages_name_the_fix(fixture_report: LintReport) -> None:
    messages = {(f.path.rsplit("/", 1)[-1], f.rule): f.message for f in fixture_report.findings}
    assert messages[("0003_c.sql", "migration-gap")] == "0003_c follows a gap: 0002 missing; renumber it 0002"
    assert messages[("notes.sql", "policy-no-rls")] == (
        "no `alter table public.notes enable row level security`: without it the policies do nothing"
    )
    assert messages[("0002_b.sql", "non-transactional-not-rerunnable")] == (
        "create index concurrently idx_a_b ... is not re-runnable: add IF NOT EXISTS / IF EXISTS"
    )


def test_waivers_are_honoured_and_listed(fixture_report: LintReport) -> None:
    waived = {
        (w.finding.path.rsplit("/", 1)[-1], w.finding.line, w.finding.rule, w.reason)
        for w in fixture_report.waived
        if w.finding.path.startswith(f"{REL}/waivers/")
    }
    assert waived == {
        (
            "0002_b.sql",
            4,
            "require-concurrent-index-creation",
            "a is empty when this runs: built with the table",
        ),
        (
            "0002_b.rollback.sql",
            2,
            "require-concurrent-index-deletion",
            "a rollback runs on a table this young",
        ),
        (
            "0002_b.rollback.sql",
            3,
            "require-concurrent-index-deletion",
            "a rollback runs on a table this young",
        ),
    }


def test_shipped_sql_lints_clean(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = run_cli("lint")
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert re.match(
        r"no findings in \d+ file\(s\); \d+ waived( \(--show-waived lists them\))?; "
        r"fail-on safety warning, style warning: ok \(",
        last,
    ), last
    # every waiver in the shipped SQL says why
    for line in result.output.splitlines()[:-1]:
        assert re.match(r"waived migrations/\S+:\d+: \S+ \[(sqlfluff|squawk|dbops)\]: \S", line), line


def test_shipped_sql_lints_clean_in_machine_formats(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same report as `dbops lint` on the shipped SQL, rendered as SARIF and GitHub commands."""
    from ops.lint import github_lines, sarif

    report = lint(root_settings(), cwd=ROOT)
    assert report.findings == () and not report.failed
    runs = sarif(report)["runs"]
    assert all("suppressions" in r for run in runs for r in run["results"])  # only the waived ones
    assert sum(len(run["results"]) for run in runs) == len(report.waived) >= 1
    lines = github_lines(report)
    assert lines == [
        f"dbops lint: 0 finding(s), {len(report.waived)} waived, fail-on safety warning, style warning: ok"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD_CASES)
def test_cli_exits_1_on_each_bad_fixture(
    run_cli: Any, monkeypatch: pytest.MonkeyPatch, fixture_report: LintReport, case: str
) -> None:
    monkeypatch.chdir(ROOT)
    result = run_cli("lint", "--processes", "1", f"{REL}/{case}")
    assert result.exit_code == 1, result.output
    count = sum(1 for f in fixture_report.findings if f.path.startswith(f"{REL}/{case}/"))
    assert result.output.strip().splitlines()[-1].startswith(f"{count} finding(s)")


CASE = f"{REL}/policy_always_true_write"


def test_text_format(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = run_cli("lint", CASE)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == (
        f"{CASE}/policies/notes.sql:3:1: error policy-always-true-write INSERT policy "
        '"Anyone inserts notes" has no WITH CHECK: anon may insert any row [dbops]'
    )
    assert lines[-1].startswith(
        "3 finding(s) (2 errors, 1 warning) in 1 file(s); 0 waived; "
        "fail-on safety warning, style warning: FAIL ("
    )


def test_json_format(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    for args in (["lint", "--format", "json", CASE], ["--json", "lint", CASE]):
        result = run_cli(*args)
        assert result.exit_code == 1
        data = json.loads(result.output)
        assert data["failed"] is True and data["counts"] == {"error": 2, "warning": 1, "note": 0}
        assert data["findings"][1] == {
            "path": f"{CASE}/policies/notes.sql",
            "line": 7,
            "column": 1,
            "rule": "policy-always-true-write",
            "level": "error",
            "message": 'ALL policy "Everyone changes notes" for public has an always-true USING: '
            "scope it to the caller",
            "source": "dbops",
        }


def test_sarif_format(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = run_cli("lint", "--format", "sarif", f"{REL}/waivers", f"{REL}/sqlfluff_style")
    assert result.exit_code == 1
    sarif = json.loads(result.output)
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    assert [run["tool"]["driver"]["name"] for run in sarif["runs"]] == ["sqlfluff", "squawk", "dbops"]
    for run in sarif["runs"]:
        rules = run["tool"]["driver"]["rules"]
        for result_ in run["results"]:
            rule = rules[result_["ruleIndex"]]
            assert rule["id"] == result_["ruleId"] and rule["help"]["text"]
            assert result_["level"] in ("error", "warning", "note")
            region = result_["locations"][0]["physicalLocation"]["region"]
            assert region["startLine"] >= 1 and region["startColumn"] >= 1
    sqlfluff, squawk, dbops = sarif["runs"]
    assert {r["ruleId"] for r in sqlfluff["results"]} == {"CP01"}
    assert any(
        r["helpUri"].endswith("#rule-capitalisation.keywords") for r in sqlfluff["tool"]["driver"]["rules"]
    )
    suppressed = [r for r in squawk["results"] if "suppressions" in r]
    assert len(suppressed) == 3
    assert {json.dumps(r["suppressions"]) for r in suppressed} == {
        json.dumps(
            [{"kind": "inSource", "justification": "a is empty when this runs: built with the table"}]
        ),
        json.dumps([{"kind": "inSource", "justification": "a rollback runs on a table this young"}]),
    }
    assert {r["id"] for r in dbops["tool"]["driver"]["rules"]} == set(RULES) | set(SAFETY_RULES)
    assert {r["ruleId"] for r in dbops["results"]} == {"waiver-no-reason", "waiver-unused"}


def test_github_format(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = run_cli("lint", "--format", "github", f"{REL}/migration_no_depends")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"::warning file={REL}/migration_no_depends/migrations/0002_b.sql,line=1,col=1,"
        "title=dbops migration-no-depends::migration-no-depends: 0002_b has no `-- depends:` line"
        ": name the migration it follows",
        "dbops lint: 1 finding(s), 0 waived, fail-on safety warning, style warning: FAIL",
    ]


def test_fail_on_levels(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    warnings_only = f"{REL}/migration_no_depends"
    assert run_cli("lint", "--fail-on", "error", warnings_only).exit_code == 0
    assert run_cli("lint", "--fail-on", "never", f"{REL}/policy_no_rls").exit_code == 0
    assert run_cli("lint", "--fail-on", "note", warnings_only).exit_code == 1


def test_a_parser_limit_fails_no_run(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = run_cli("lint", "--processes", "1", f"{REL}/partition_detach")
    assert result.exit_code == 0, result.output
    assert "note PRS sqlfluff's postgres grammar cannot read this" in result.output


def test_style_and_safety_fail_separately(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    style, unsafe = f"{REL}/sqlfluff_style", f"{REL}/squawk_unsafe"
    assert run_cli("lint", style).exit_code == 1  # this project: style_fail_on = "warning"
    assert run_cli("lint", "--style-fail-on", "never", style).exit_code == 0
    assert run_cli("lint", "--fail-on", "never", style).exit_code == 1  # the safety level spares no style
    assert run_cli("lint", "--category", "safety", style).exit_code == 0
    assert run_cli("lint", "--style-fail-on", "never", "--category", "safety", unsafe).exit_code == 1
    assert run_cli("lint", "--fail-on", "never", "--category", "safety", unsafe).exit_code == 0


def test_style_does_not_fail_by_default(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.dbops]\n", encoding="utf-8")
    settings = load_settings({}, {}, tmp_path)
    report = lint(settings, [FIXTURES / "sqlfluff_style"], cwd=ROOT, categories=("safety",))
    assert (report.fail_on, report.style_fail_on) == ("warning", "none")


def test_usage_errors_exit_2(run_cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    result = run_cli("lint", "no/such/dir")
    assert result.exit_code == 2
    assert "Error: " in result.output and "no/such/dir: no such file or directory" in result.output
    assert "Hint: pass existing SQL files or directories" in result.output

    (tmp_path / "pyproject.toml").write_text(
        '[tool.dbops.lint.squawk_off]\nban-drop-table = ""\n', encoding="utf-8"
    )
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_a.sql").write_text("select 1;\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = run_cli("lint")
    assert result.exit_code == 2
    assert "Error: [tool.dbops.lint.squawk_off] ban-drop-table has no reason" in result.output

    (tmp_path / "pyproject.toml").write_text(
        '[tool.dbops.lint.squawk_off]\nno-such-rule = "because"\n', encoding="utf-8"
    )
    result = run_cli("lint")
    assert result.exit_code == 2
    assert "Error: squawk refused its arguments" in result.output


def test_non_transactional_statements_that_belong_there() -> None:
    from ops.lint import LintFile

    text = """-- transactional: false
set statement_timeout = 0;
vacuum (analyze) quizzes;
reindex index concurrently idx_a;
alter type phase add value if not exists 'ARCHIVED';
alter type phase add value 'PAUSED';
call backfill_in_batches();
do $$ begin perform 1; end $$;
"""
    lint_file = LintFile(Path("m.sql"), "m.sql", "migration", transactional=False)
    found = [(f.line, f.rule) for f in file_findings(lint_file, text)]
    assert found == [(6, "non-transactional-not-rerunnable"), (8, "non-transactional-statement")]


def test_read_only_check_quiet_on_words_in_literals_and_columns() -> None:
    from ops.lint import LintFile

    text = """-- id: x
-- severity: info
-- category: security
-- description: d
-- remediation: r
select p.polname as object, 'INSERT or UPDATE without check' as detail
from pg_policy as p
where p.polcmd in ('a', 'w') and has_table_privilege('anon', p.polrelid, 'DELETE')
"""
    lint_file = LintFile(Path("c.sql"), "c.sql", "check")
    assert file_findings(lint_file, text) == []


def test_waiver_scopes() -> None:
    text = """create table a (
    id bigint -- dbops: ignore X trailing inside
);
-- dbops: ignore Y before the next statement

create index i on a (id);
select 1; -- dbops: ignore Z trailing after
-- dbops: ignore-file W everywhere
"""
    parsed = parse_sql(text)
    scopes = {w.rule: waiver_scope(w, parsed.statements) for w in parsed.waivers}
    assert scopes == {"X": (1, 3), "Y": (6, 6), "Z": (7, 7), "W": (1, 1 << 30)}
    assert [w.reason for w in parsed.waivers] == [
        "trailing inside",
        "before the next statement",
        "trailing after",
        "everywhere",
    ]


def test_pre_commit_hook_and_ci_wiring() -> None:
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "dbops-lint")
    assert hook["entry"] == "dbops lint" and hook["language"] == "python"
    pattern = re.compile(hook["files"])
    assert pattern.search("migrations/0012_x.sql") and pattern.search("policies/users.sql")
    assert pattern.search("checks/fk_without_index.sql") and not pattern.search(
        "ops/migrations/sql/catalog_snapshot.sql"
    )
    assert "dbops lint" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for needle in ("dbops lint", "--format sarif", "--format github", "-- dbops: ignore", "pre-commit"):
        assert needle in readme, needle


def test_single_files_as_pre_commit_passes_them() -> None:
    """Set-wide migration rules read the whole directory but report only on the files passed."""
    settings = root_settings()
    gap = FIXTURES / "migration_gap" / "migrations"
    assert lint(settings, [gap / "0001_a.sql"], cwd=ROOT).findings == ()
    report = lint(settings, [gap / "0003_c.sql"], cwd=ROOT)
    assert [(f.path, f.rule) for f in report.findings] == [
        (f"{REL}/migration_gap/migrations/0003_c.sql", "migration-gap")
    ]
    # a rollback of a non-transactional migration is linted as non-transactional too
    rollback = FIXTURES / "clean" / "migrations" / "0002_notes_user_index.rollback.sql"
    assert lint(settings, [rollback], cwd=ROOT).findings == ()


@pytest.mark.slow
def test_console_script_with_parallel_sqlfluff(tmp_path: Path) -> None:
    """The real `dbops` binary, with sqlfluff's worker processes (spawned, re-importing main)."""
    import subprocess
    import sys

    dbops = Path(sys.executable).parent / "dbops"
    paths = [f"{REL}/policy_no_rls", f"{REL}/clean"]
    proc = subprocess.run(
        [str(dbops), "lint", "--processes", "2", "--format", "github", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(
        f"::error file={REL}/policy_no_rls/policies/notes.sql,line=1,col=1,title=dbops policy-no-rls::"
    )
    assert (
        proc.stdout.splitlines()[-1]
        == "dbops lint: 1 finding(s), 0 waived, fail-on safety warning, style warning: FAIL"
    )


def test_policy_file_grants_and_switches() -> None:
    from ops.lint import LintFile

    text = """alter table archive.quizzes enable row level security;
alter table archive.quizzes force row level security;
grant select on table archive.quizzes to authenticated;
grant select on archive.quizzes, public.quizzes to authenticated;
grant select on all tables in schema archive to authenticated;
revoke execute on function app.login(text) from anon;
create policy "Own rows" on archive.quizzes for update to authenticated
using (user_id = (select app.current_user_id())::text) with check (true);
create policy "Service" on archive.quizzes for delete to service_role using (true);
alter table archive.quizzes disable row level security;
"""
    lint_file = LintFile(Path("p.sql"), "p.sql", "policy")
    found = [(f.line, f.rule, f.message) for f in file_findings(lint_file, text)]
    own = "archive.quizzes"
    assert found == [
        (4, "policy-other-table", "touches public.quizzes, but this file manages archive.quizzes: "
         "move it to policies/ for public.quizzes"),
        (5, "policy-other-table", f"`grant select on ...` is not about {own}: move it to a migration"),
        (6, "policy-other-table", f"`revoke execute on ...` is not about {own}: move it to a migration"),
        (7, "policy-always-true-write", 'UPDATE policy "Own rows" for authenticated has an always-true '
         "WITH CHECK: scope it to the caller"),
        (10, "policy-no-rls", "disables row-level security on archive.quizzes"),
    ]  # fmt: skip
