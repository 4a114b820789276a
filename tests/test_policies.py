"""`dbops policies apply|diff`, the bookkeeping, and `dbops migrate` applying changed files."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ops import policies
from ops.errors import ConfigError
from ops.locks import NAMESPACE, JobFamily
from ops.policies import read_states
from tests.conftest import ROOT, SERVER, Database
from tests.server import MIGRATION_COUNT

TABLES = [f.table for f in policies.read_policy_dir(ROOT / "policies")]


def _states(db: Database) -> dict[str, Any]:
    return read_states(db.conn, TABLES)


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A copy of the shipped policy files, free to edit."""
    target = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", target)
    return target


def _drift(db: Database) -> None:
    db.conn.execute("drop policy users_select_own on users")
    db.conn.execute("alter table quizzes disable row level security")
    db.conn.execute(
        'create policy "Allow all access to tutor_chats" on tutor_chats using (true) with check (true)'
    )
    db.conn.execute("alter policy topics_delete_own on topics using (true)")


def test_migrate_on_an_empty_database_applies_every_file_and_diff_is_clean(
    empty_db: Database, run_cli: Any
) -> None:
    result = run_cli("migrate", url=empty_db.url)
    assert result.exit_code == 0, result.output
    assert "note: policies: applied policies/users.sql (never applied)" in result.output
    assert result.output.count("note: policies: applied") == 12
    result = run_cli("policies", "diff", url=empty_db.url)
    assert (result.exit_code, result.output) == (
        0,
        "no differences: live policies match policies/ (12 tables)\n",
    )
    # the seed's open policies are gone; none lets anon or authenticated write with `true`
    assert empty_db.scalar("select count(*) from pg_policy where polname like 'Allow %'") == 0
    assert empty_db.scalar("select count(*) from dbops.policy_apply") == 12
    again = run_cli("migrate", url=empty_db.url)
    assert (again.exit_code, again.output) == (0, "nothing to do\n")


def test_diff_names_each_kind_of_difference_and_exits_1(db: Database, run_cli: Any) -> None:
    _drift(db)
    result = run_cli("policies", "diff", url=db.url)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "public.quizzes: row level security is disabled" in lines
    assert (
        'public.tutor_chats: policy "Allow all access to tutor_chats" is not in the file '
        "(live: for all to public using true with check true)"
    ) in lines
    assert (
        'public.users: policy "users_select_own" is missing (file: for select to authenticated '
        "using (id = ( SELECT app.current_user_id() AS current_user_id)))"
    ) in lines
    assert 'public.topics: policy "topics_delete_own" differs' in lines
    assert "    live: for delete to authenticated using true" in lines
    assert lines[-1] == (
        "4 difference(s) in 12 managed table(s); "
        "`dbops policies apply` makes the live policies match the files"
    )
    data = json.loads(run_cli("--json", "policies", "diff", url=db.url).output)
    assert sorted(d["kind"] for d in data["differences"]) == [
        "policy-changed",
        "policy-extra",
        "policy-missing",
        "rls-off",
    ]
    assert data["has_differences"] is True


def test_diff_result_is_a_frozen_dataclass(db: Database) -> None:
    result = policies.diff(db.conn, db.settings())
    assert dataclasses.is_dataclass(result) and result.differences == ()
    assert not result.has_differences and len(result.tables) == 12
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.differences = ()  # type: ignore[misc]


def test_apply_makes_live_policies_exactly_the_files(db: Database, run_cli: Any) -> None:
    before = _states(db)
    _drift(db)
    result = run_cli("policies", "apply", url=db.url)
    assert result.exit_code == 0, result.output
    assert (
        'applied policies/tutor_chats.sql to public.tutor_chats: drops "Allow all access to tutor_chats"'
        in result.output
    )
    assert 'applied policies/users.sql to public.users: creates "users_select_own"' in result.output
    assert result.output.splitlines()[-1] == "12 policy file(s), 4 table(s) changed"
    assert _states(db) == before
    assert run_cli("policies", "diff", url=db.url).exit_code == 0


def test_apply_dry_run_changes_nothing(db: Database, run_cli: Any) -> None:
    _drift(db)
    drifted = _states(db)
    result = run_cli("policies", "apply", "--dry-run", url=db.url)
    assert result.exit_code == 0, result.output
    assert 'would apply policies/users.sql to public.users: creates "users_select_own"' in result.output
    assert result.output.splitlines()[-1] == (
        "12 policy file(s), 4 table(s) changed; dry run: nothing was changed"
    )
    assert _states(db) == drifted
    data = json.loads(run_cli("--json", "policies", "apply", "--dry-run", url=db.url).output)
    assert data["dry_run"] is True and len(data["files"]) == 12


def test_a_syntax_error_leaves_every_live_policy_as_it_was_and_exits_4(
    db: Database, run_cli: Any, policy_dir: Path
) -> None:
    before = _states(db)
    # an earlier file (in name order) changes validly: it must be rolled back too
    misconceptions = policy_dir / "misconceptions.sql"
    misconceptions.write_text(misconceptions.read_text().replace("misconceptions_delete_own", "renamed"))
    quizzes = policy_dir / "quizzes.sql"
    text = quizzes.read_text().replace("create policy quizzes_update_own", "create polcy quizzes_update_own")
    quizzes.write_text(text)
    line = text.splitlines().index("create polcy quizzes_update_own on public.quizzes") + 1
    result = run_cli("--policies-dir", str(policy_dir), "policies", "apply", url=db.url)
    assert result.exit_code == 4
    assert f'Error: {quizzes}:{line}: syntax error at or near "polcy"' in result.output
    assert (
        "Hint: fix the file and run `dbops policies apply` again; no live policy was changed" in result.output
    )
    assert _states(db) == before
    # diff evaluates the changed files and reports the same error
    assert run_cli("--policies-dir", str(policy_dir), "policies", "diff", url=db.url).exit_code == 4


def test_diff_evaluates_a_changed_file_and_migrate_applies_only_it(
    db: Database, run_cli: Any, policy_dir: Path
) -> None:
    plan_cache = policy_dir / "plan_cache.sql"
    plan_cache.write_text(
        plan_cache.read_text().replace("expires_at > now()", "expires_at > now() + interval '1 hour'")
    )
    result = run_cli("--policies-dir", str(policy_dir), "policies", "diff", url=db.url)
    assert result.exit_code == 1
    assert 'public.plan_cache: policy "plan_cache_select_fresh" differs' in result.output
    assert f"note: {plan_cache} is new or changed since its last apply (evaluated, then rolled back)" in (
        result.output
    )
    assert "interval" in result.output
    result = run_cli("--policies-dir", str(policy_dir), "migrate", url=db.url)
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"note: policies: applied {plan_cache} (file changed since its last apply)\nnothing to do\n"
    )
    assert run_cli("--policies-dir", str(policy_dir), "policies", "diff", url=db.url).exit_code == 0
    sha = db.scalar("select sha256 from dbops.policy_apply where table_name = 'public.plan_cache'")
    (changed,) = [f for f in policies.read_policy_dir(policy_dir) if f.table == "public.plan_cache"]
    assert sha == changed.sha256


def test_migrate_reapplies_a_table_that_drifted(db: Database, run_cli: Any) -> None:
    db.conn.execute("alter table quizzes disable row level security")
    result = run_cli("migrate", url=db.url)
    assert result.output == (
        "note: policies: applied policies/quizzes.sql (live policies differ from the last apply)\n"
        "nothing to do\n"
    )
    assert db.scalar("select relrowsecurity from pg_class where oid = 'public.quizzes'::regclass") is True


def test_migrate_to_an_earlier_migration_applies_no_policy(empty_db: Database, run_cli: Any) -> None:
    result = run_cli("migrate", "--to", "0004", url=empty_db.url)
    assert result.exit_code == 0, result.output
    pending = MIGRATION_COUNT - 4
    assert f"note: policies not applied: {pending} migration(s) pending; `dbops migrate` applies them" in (
        result.output
    )
    assert empty_db.scalar("select count(*) from pg_policy where polname like 'Allow %'") == 4


def test_a_file_must_enable_rls_and_manage_only_its_table(
    db: Database, run_cli: Any, policy_dir: Path
) -> None:
    users = policy_dir / "users.sql"
    original = users.read_text()
    users.write_text(original.replace("alter table public.users enable row level security;", ""))
    db.conn.execute("alter table users disable row level security")
    result = run_cli("--policies-dir", str(policy_dir), "policies", "apply", url=db.url)
    assert result.exit_code == 2
    assert f"Error: {users} does not enable row level security on public.users" in result.output
    users.write_text(original + "\ncreate policy sneaky on public.quizzes for select to anon using (true);\n")
    result = run_cli("--policies-dir", str(policy_dir), "policies", "apply", url=db.url)
    assert result.exit_code == 2
    assert f"Error: {users} changed the policies of public.quizzes; a file manages only its own table" in (
        result.output
    )
    assert db.scalar("select count(*) from pg_policy where polname = 'sneaky'") == 0


def test_a_file_for_a_missing_table(db: Database, run_cli: Any, policy_dir: Path) -> None:
    (policy_dir / "lessons.sql").write_text("alter table public.lessons enable row level security;\n")
    result = run_cli("--policies-dir", str(policy_dir), "policies", "apply", url=db.url)
    assert result.exit_code == 2
    assert f"Error: {policy_dir / 'lessons.sql'}: table public.lessons does not exist" in result.output
    result = run_cli("--policies-dir", str(policy_dir), "policies", "diff", url=db.url)
    assert result.exit_code == 1
    assert "public.lessons: table does not exist (run `dbops migrate`)" in result.output
    notes = policies.apply_changed(db.conn, db.settings(policies_dir=str(policy_dir)))
    assert notes == ("skipped lessons.sql: table public.lessons does not exist",)


def test_policy_file_names_say_their_table(tmp_path: Path) -> None:
    (tmp_path / "users.sql").write_text("")
    (tmp_path / "archive.quizzes.sql").write_text("")
    # live tables first: the order in which a policy change locks them (see read_policy_dir)
    assert [f.table for f in policies.read_policy_dir(tmp_path)] == ["public.users", "archive.quizzes"]
    (tmp_path / "Bad-Name.sql").write_text("")
    with pytest.raises(ConfigError, match=r"Bad-Name\.sql: cannot tell which table it manages"):
        policies.read_policy_dir(tmp_path)
    with pytest.raises(ConfigError, match="policies directory not found"):
        policies.read_policy_dir(tmp_path / "nowhere")


def test_apply_waits_for_the_migrate_lock_and_exits_5(db: Database, run_cli: Any) -> None:
    with psycopg.connect(db.url, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s, %s)", (NAMESPACE, int(JobFamily.MIGRATE)))
        result = run_cli("--lock-wait", "0", "policies", "apply", url=db.url)
    assert result.exit_code == 5
    assert "Error: another run holds the migrate lock: pid" in result.output


def test_apply_gives_up_after_lock_timeout_and_changes_nothing(db: Database, run_cli: Any) -> None:
    _drift(db)
    drifted = _states(db)
    with psycopg.connect(db.url) as reader:
        reader.execute("select count(*) from quizzes")  # holds ACCESS SHARE until rollback
        result = run_cli(
            "--lock-timeout", "100ms", "policies", "apply", url=db.url, env={"DBOPS_LOCK_RETRIES": "0"}
        )
        reader.rollback()
    assert result.exit_code == 4
    assert "Error: policies: no lock within 100 ms after 1 tries" in result.output
    assert _states(db) == drifted


@pytest.mark.slow
def test_verify_passes_with_the_archive_index_migration(run_cli: Any) -> None:
    result = run_cli("verify", url=SERVER.url("postgres"))
    assert result.exit_code == 0, result.output
    assert "ok   0012_archive_owner_indexes" in result.output


def test_policies_help_lists_apply_and_diff(run_cli: Any) -> None:
    result = run_cli("policies", "--help")
    assert result.exit_code == 0
    assert "apply" in result.output and "diff" in result.output
    assert "policies" in run_cli("--help").output


def test_rollback_steps_policies_aside_and_puts_back_what_still_applies(db: Database, run_cli: Any) -> None:
    before = _states(db)
    result = run_cli("rollback", "--steps", "1", "--yes", url=db.url)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "note: policies: withdrew 28 policies of 12 managed tables for the rollback",
        "note: policies: re-applied 12 of 12 files after the rollback",
    ]
    assert _states(db) == before
    # below 0009 the policies' function is gone: they stay withdrawn, RLS stays on
    result = run_cli("rollback", "--to", "0008", "--yes", url=db.url)
    assert result.exit_code == 0, result.output
    assert (
        'note: policies: policies/users.sql stays withdrawn (schema "app" does not exist); '
        "`dbops migrate` applies it"
    ) in result.output
    assert db.scalar("select count(*) from pg_policy where polrelid = 'public.users'::regclass") == 0
    assert db.scalar("select relrowsecurity from pg_class where oid = 'public.users'::regclass") is True
    assert run_cli("migrate", url=db.url).exit_code == 0
    assert _states(db) == before
    assert run_cli("policies", "diff", url=db.url).exit_code == 0


def test_rollback_dry_run_through_the_roles_migration_changes_nothing(db: Database, run_cli: Any) -> None:
    before = _states(db)
    result = run_cli("rollback", "--to", "0008", "--dry-run", url=db.url)
    assert result.exit_code == 0, result.output
    assert (
        result.output.splitlines()[-1]
        == f"dry run: {MIGRATION_COUNT - 8} migration(s) would be rolled back; nothing was changed"
    )
    assert _states(db) == before
