"""Every SQL check: a fixture where it fires and one where it stays quiet, on a migrated clone.

Cases are data: (check, setup SQL, object, threshold params, seed). A firing case asserts the
object is among the findings (or a finding starts with it, for names with oids); a quiet
case asserts it is not, and `EMPTY` asserts no finding at all. The clone has the shipped
policies/ applied (as `dbops migrate` leaves a database); a `seed` case first puts back the
policies the migrations alone leave (the seed's permissive ones), as before `policies apply`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from ops.checks import load_library
from tests.checkhelp import objects, run, seed_policies
from tests.conftest import Database, settings_for

A = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
B = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
S = "cccccccc-cccc-cccc-cccc-cccccccccccc"
T = "dddddddd-dddd-dddd-dddd-dddddddddddd"
M = "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee"
Q = "ffffffff-ffff-ffff-ffff-ffffffffffff"
GHOST = "99999999-9999-9999-9999-999999999999"
EMPTY = "<no finding at all>"

BASE = f"""
insert into users (id, name) values ('{A}', 'ann'), ('{B}', 'bob');
insert into study_sessions (id, user_id, exam_type) values ('{S}', '{A}', 'GRE');
insert into topics (id, session_id, name) values ('{T}', '{S}', 'algebra');
"""

BLOATED = """
create table bloated (id int primary key, pad text) with (autovacuum_enabled = false);
insert into bloated select g, repeat('x', 200) from generate_series(1, 20000) as g;
"""


class Case(NamedTuple):
    check: str
    setup: str
    object: str
    params: dict[str, Any] = {}  # noqa: RUF012 (NamedTuple fields are immutable; never mutated)
    seed: bool = False  # with the seed's policies, as before `dbops policies apply`


FIRES = [
    Case(
        "api_role_writes_server_owned_column",
        "grant insert (id) on quizzes to authenticated",
        "public.quizzes.id",
    ),
    Case(
        "api_role_writes_server_owned_column",
        "grant update on users to authenticated",
        "public.users.created_at",
    ),
    Case(
        "anon_can_execute_or_read",
        "grant usage on schema app to anon; grant execute on function app.login(text) to anon",
        "app.login(user_name text)",
    ),
    Case(
        "anon_can_execute_or_read",
        "grant usage on schema public to anon; grant select on topics to anon",
        "public.topics",
    ),
    Case(
        "archive_policy_reads_live_table",
        "create policy via_live on archive.topics for select to authenticated using (exists ("
        "select 1 from public.study_sessions as s where s.id = topics.session_id))",
        "archive.topics.via_live",
    ),
    Case("rls_disabled", "create table notes (id int primary key)", "public.notes"),
    Case("rls_disabled_api_readable", "", "public.topics", seed=True),
    Case(
        "rls_disabled_api_readable",
        "create table notes (id int); grant select (id) on notes to anon",
        "public.notes",
    ),
    Case("rls_policy_without_rls", "alter table users disable row level security", "public.users"),
    Case("rls_enabled_no_policy", "", "archive.topics", seed=True),
    Case(
        "rls_enabled_no_policy",
        "create table archive.notes (id int); alter table archive.notes enable row level security",
        "archive.notes",
    ),
    Case("rls_policy_always_true", "", "public.quizzes.Allow all access to quizzes", seed=True),
    Case("rls_policy_always_true", "", "public.users.Allow public insert to users", seed=True),
    Case(
        "rls_policy_always_true",
        "create policy one_is_one on topics for update to authenticated using (1 = 1)",
        "public.topics.one_is_one",
    ),
    Case(
        "rls_policy_always_true",
        "create policy anyone on quizzes for delete using (coalesce(null, true))",
        "public.quizzes.anyone",
    ),
    Case(
        "rls_insert_policy_without_check",
        "create policy ins on topics for insert to authenticated",
        "public.topics.ins",
    ),
    Case(
        "rls_write_policy_ignores_row",
        "create policy signed_in on quizzes for delete to authenticated "
        "using ((select app.current_user_id()) is not null)",
        "public.quizzes.signed_in",
    ),
    Case(
        "security_definer_search_path",
        "create function public.f() returns int language sql security definer as 'select 1'",
        "public.f()",
    ),
    Case(
        "view_bypasses_rls",
        "create view public.all_chats as select * from tutor_chats; grant select on all_chats to anon",
        "public.all_chats",
    ),
    Case(
        "security_definer_executable_by_anon",
        "grant usage on schema app to anon; grant execute on function app.login(text) to anon",
        "app.login(user_name text)",
    ),
    Case("function_search_path_mutable", "", "app.current_user_id()"),
    Case("extension_in_public", "", "vector"),
    Case(
        "orphan_tutor_chats_user",
        BASE + "insert into tutor_chats (user_id, topic_id, messages, explanation) "
        "values ('ghost', 't', '[]', '')",
        "public.tutor_chats(user_id=ghost)",
    ),
    Case(
        "orphan_quizzes_user",
        BASE + "insert into quizzes (user_id, topic_id, questions) values ('ghost', 't', '[]')",
        "public.quizzes(user_id=ghost)",
    ),
    Case(
        "orphan_misconceptions_user",
        BASE + "set session_replication_role = replica;"
        f"insert into misconceptions (user_id, topic_id, description) values ('{GHOST}', '{T}', 'x');"
        "reset session_replication_role",
        f"public.misconceptions(user_id={GHOST})",
    ),
    Case(
        "constraint_not_valid",
        "alter table topics add constraint name_short check (length(name) < 100) not valid",
        "public.topics.name_short",
    ),
    Case("trigger_disabled", "alter table topics disable trigger all", "public.topics.RI_ConstraintTrigger_"),
    Case(
        "mastery_score_out_of_range",
        BASE + "alter table topics drop constraint topics_mastery_score_check;"
        "update topics set mastery_score = 150",
        f"public.topics:{T}",
    ),
    Case(
        "current_state_not_a_phase",
        BASE + "alter table study_sessions drop constraint study_sessions_current_state_check;"
        "update study_sessions set current_state = 'SLEEPING'",
        f"public.study_sessions:{S}",
    ),
    Case(
        "updated_at_before_created_at",
        BASE + "update study_sessions set updated_at = created_at - interval '1 hour'",
        f"public.study_sessions:{S}",
    ),
    Case(
        "topic_owner_mismatch",
        BASE + "insert into misconceptions (id, user_id, topic_id, description) "
        f"values ('{M}', '{B}', '{T}', 'x')",
        f"public.misconceptions:{M}",
    ),
    Case(
        "topic_owner_mismatch",
        BASE + f"insert into quizzes (id, user_id, topic_id, questions) values ('{Q}', '{B}', '{T}', '[]')",
        f"public.quizzes:{Q}",
    ),
    Case(
        "fk_without_index",
        "create table parent (id int primary key); create table child (id int primary key, parent_id int "
        "references parent)",
        "public.child.child_parent_id_fkey",
    ),
    Case(  # a partial index does not serve every referenced row
        "fk_without_index",
        "create table parent (id int primary key); create table child (id int primary key, parent_id int "
        "references parent); create index on child (parent_id) where id > 0",
        "public.child.child_parent_id_fkey",
    ),
    Case("duplicate_index", "create index users_name_dup on users (name)", "public.users_name_dup"),
    Case(
        "duplicate_index", "create index a1 on topics (name); create index a2 on topics (name)", "public.a2"
    ),
    Case("table_without_primary_key", "create table nopk (x int)", "public.nopk"),
    Case(
        "plan_cache_expired_backlog",
        "insert into plan_cache (cache_key, plan, expires_at) "
        "select 'k' || g, '{}', now() - interval '1 day' from generate_series(1, 3) as g",
        "public.plan_cache",
        {"plan_cache_backlog_max": 2},
    ),
    Case(
        "table_bloat",
        BLOATED + "delete from bloated where id % 10 <> 0; analyze bloated",
        "public.bloated",
        {"bloat_min_bytes": 0},
    ),
    Case(
        "index_bloat",
        BLOATED + "delete from bloated where id % 10 <> 0; analyze bloated",
        "public.bloated_pkey",
        {"bloat_min_bytes": 0},
    ),
    Case(
        "sequence_near_exhaustion",
        "create table counters (id int generated always as identity primary key);"
        "select setval(pg_get_serial_sequence('counters', 'id'), 2000000000)",
        "public.counters_id_seq",
    ),
    Case(  # a bigint sequence feeding an int column runs out at the column's limit
        "sequence_near_exhaustion",
        "create sequence big_seq as bigint; create table narrow (id int default nextval('big_seq'));"
        "alter sequence big_seq owned by narrow.id; select setval('big_seq', 2100000000)",
        "public.big_seq",
    ),
    Case("xid_age", "", "database ", {"xid_age_max": -1}),
    Case(
        "table_never_analyzed",
        "create table fresh (x int); insert into fresh select generate_series(1, 10000)",
        "public.fresh",
    ),
]

QUIET = [
    Case("api_role_writes_server_owned_column", "", EMPTY),
    Case("api_role_writes_server_owned_column", "grant update (name) on users to authenticated", EMPTY),
    Case("anon_can_execute_or_read", "", EMPTY),
    # a grant anon cannot use: it has no usage of the schema
    Case("anon_can_execute_or_read", "grant select on topics to anon", EMPTY),
    Case("archive_policy_reads_live_table", "", EMPTY),
    Case(
        "rls_disabled",
        "create table notes (id int primary key); alter table notes enable row level security",
        EMPTY,
    ),
    Case("rls_disabled_api_readable", "", EMPTY),  # policies/ enables RLS on every table
    Case("rls_policy_without_rls", "", EMPTY),
    Case(
        "rls_enabled_no_policy",
        "create table notes (id int); alter table notes enable row level security;"
        "create policy mine on notes using (id > 0)",
        "public.notes",
    ),
    # the seed's policies replaced by the owner policies of policies/ (`dbops policies apply`)
    Case("rls_policy_always_true", "", EMPTY),
    Case(  # a literal false admits nothing
        "rls_policy_always_true",
        "create policy nobody on topics for update to authenticated using (false)",
        EMPTY,
    ),
    Case(  # a restrictive policy restricts; true there grants nothing (splinter false positive)
        "rls_policy_always_true",
        "create policy limit_all on topics as restrictive for all to authenticated using (true)",
        EMPTY,
    ),
    Case(  # a permissive true neutralised by a restrictive owner check on the same command and roles
        "rls_policy_always_true",
        "create policy open on notes_t for all to authenticated using (true) with check (true);"
        "create policy owner_only on notes_t as restrictive for all to authenticated "
        "using (owner = (select app.current_user_id()))",
        EMPTY,
    ),
    Case(  # BYPASSRLS roles never see policies; a policy for them only is moot
        "rls_policy_always_true",
        "create policy system on plan_cache for all to service_role using (true) with check (true)",
        EMPTY,
    ),
    Case("rls_insert_policy_without_check", "", EMPTY),
    # the seed's constants are always-true's findings
    Case("rls_write_policy_ignores_row", "", EMPTY, seed=True),
    Case("rls_write_policy_ignores_row", "", EMPTY),
    Case(
        "security_definer_search_path",
        "create function public.f() returns int language sql security definer set search_path = '' "
        "as 'select 1'",
        EMPTY,
    ),
    Case("security_definer_executable_by_anon", "", EMPTY),
    Case(  # executable, but anon cannot reach the schema
        "security_definer_executable_by_anon", "grant execute on function app.login(text) to anon", EMPTY
    ),
    Case(
        "view_bypasses_rls",
        "create view public.my_chats with (security_invoker = true) as select * from tutor_chats;"
        "grant select on my_chats to anon; create table public.glossary (term text primary key);"
        "create view public.terms as select * from glossary; grant select on terms to anon",
        # glossary has no RLS to bypass
        EMPTY,
    ),
    Case("function_search_path_mutable", "alter function app.current_user_id() set search_path = ''", EMPTY),
    Case("extension_in_public", "alter extension vector set schema app", EMPTY),
    Case(
        "orphan_tutor_chats_user",
        BASE
        + f"insert into tutor_chats (user_id, topic_id, messages, explanation) values ('{A}', 't', '[]', '')",
        EMPTY,
    ),
    Case(
        "orphan_quizzes_user",
        BASE + f"insert into quizzes (user_id, topic_id, questions) values ('{A}', 't', '[]')",
        EMPTY,
    ),
    Case(
        "orphan_misconceptions_user",
        BASE + f"insert into misconceptions (user_id, topic_id, description) values ('{A}', '{T}', 'x')",
        EMPTY,
    ),
    Case("constraint_not_valid", "", EMPTY),
    Case("index_invalid", "", EMPTY),
    Case("trigger_disabled", "", EMPTY),
    Case("mastery_score_out_of_range", BASE + "update topics set mastery_score = 100", EMPTY),
    Case("current_state_not_a_phase", BASE + "update study_sessions set current_state = 'COMPLETED'", EMPTY),
    Case("updated_at_before_created_at", BASE, EMPTY),
    Case(
        "topic_owner_mismatch",
        BASE + f"insert into misconceptions (user_id, topic_id, description) values ('{A}', '{T}', 'x');"
        f"insert into quizzes (user_id, topic_id, questions) values ('{A}', '{T}', '[]')",
        EMPTY,
    ),
    Case(  # a composite index whose leading column is the key covers it (splinter false positive)
        "fk_without_index",
        "create table parent (id int primary key); create table child (id int primary key, parent_id int "
        "references parent, at timestamptz); create index on child (parent_id, at)",
        EMPTY,
    ),
    Case(  # a two-column key served by an index leading with the same columns in another order
        "fk_without_index",
        "create table parent (a int, b int, primary key (a, b));"
        "create table child (a int, b int, c int, foreign key (a, b) references parent);"
        "create index on child (b, a, c)",
        EMPTY,
    ),
    Case(
        "duplicate_index",
        "create index topics_name_lower on topics (lower(name)); create index on topics (name)",
        EMPTY,
    ),
    Case("table_without_primary_key", "", EMPTY),
    Case(
        "plan_cache_expired_backlog",
        "insert into plan_cache (cache_key, plan, expires_at) "
        "select 'k' || g, '{}', now() - interval '1 day' from generate_series(1, 3) as g",
        EMPTY,
    ),
    Case("table_bloat", BLOATED + "analyze bloated", "public.bloated", {"bloat_min_bytes": 0}),
    Case("index_bloat", BLOATED + "analyze bloated", "public.bloated_pkey", {"bloat_min_bytes": 0}),
    Case(
        "sequence_near_exhaustion",
        "create table counters (id int generated always as identity primary key);"
        "insert into counters default values",
        EMPTY,
    ),
    Case("xid_age", "", EMPTY),
    Case(
        "table_never_analyzed",
        "create table fresh (x int); insert into fresh select generate_series(1, 10000); analyze fresh",
        "public.fresh",
    ),
]

# Checks whose fixtures need more than SQL live in the other test_checks_* files.
COVERED_ELSEWHERE = {
    "index_invalid": "test_checks_runner.py::test_index_invalid_*",
    "migration_pending": "test_checks_migration.py",
    "migration_edited": "test_checks_migration.py",
    "migration_missing_file": "test_checks_migration.py",
    "schema_drift": "test_checks_migration.py",
    "policy_drift": "test_checks_migration.py",
    "amcheck_btree": "test_checks_physical.py",
    "amcheck_heap": "test_checks_physical.py",
    "backup_files_not_private": "test_security.py::test_check_reports_backup_files_others_can_read",
}


def _setup(db: Database, case: Case) -> None:
    if case.seed:
        seed_policies(db)
    if "notes_t" in case.setup:
        db.conn.execute(
            "create table notes_t (id int, owner uuid); alter table notes_t enable row level security"
        )
    if case.setup:
        db.conn.execute(case.setup)


def _fired(case: Case, found: list[str]) -> bool:
    prefix = case.object.endswith(("_", " "))
    return any(o == case.object or (prefix and o.startswith(case.object)) for o in found)


def _quiet(case: Case, found: list[str]) -> bool:
    return found == [] if case.object == EMPTY else case.object not in found


def _by_check(report_results: Any) -> dict[str, list[str]]:
    out = {}
    for r in report_results:
        assert r.status != "unknown", f"{r.check}: {r.reason}"
        out[r.check] = [f.object for f in r.findings]
    return out


def _run_together(db: Database, fires: list[Case], quiet: list[Case]) -> None:
    found = _by_check(run(db, *{c.check for c in fires + quiet}).results)
    for c in fires:
        assert _fired(c, found[c.check]), (c, found[c.check])
    for c in quiet:
        assert _quiet(c, found[c.check]), (c, found[c.check])


def test_checks_on_the_migrated_database(db: Database) -> None:
    """The cases that need no setup, in one run: migrated, policies/ applied."""
    fires = [c for c in FIRES if not c.setup and not c.seed]
    quiet = [c for c in QUIET if not c.setup and not c.seed]
    params = {k: v for c in fires + quiet for k, v in c.params.items()}
    assert params == {"xid_age_max": -1}
    _run_together(db, [c for c in fires if c.check != "xid_age"], quiet)
    assert _fired(Case("xid_age", "", "database "), objects(db, "xid_age", params=params))


def test_checks_with_the_seed_policies(db: Database) -> None:
    """The seed cases that need no other setup, in one run: migrated, before `policies apply`."""
    seed_policies(db)
    fires = [c for c in FIRES if not c.setup and c.seed]
    quiet = [c for c in QUIET if not c.setup and c.seed]
    assert len(fires) >= 4 and quiet and not any(c.params for c in fires + quiet)
    _run_together(db, fires, quiet)


SET_UP_FIRES = [c for c in FIRES if c.setup]
SET_UP_QUIET = [c for c in QUIET if c.setup]


@pytest.mark.slow  # a clone each: about 1 s apiece on a quiet machine
@pytest.mark.parametrize("case", SET_UP_FIRES, ids=[f"{c.check}-{i}" for i, c in enumerate(SET_UP_FIRES)])
def test_check_fires(db: Database, case: Case) -> None:
    _setup(db, case)
    found = objects(db, case.check, params=case.params)
    assert _fired(case, found), found


@pytest.mark.slow
@pytest.mark.parametrize("case", SET_UP_QUIET, ids=[f"{c.check}-{i}" for i, c in enumerate(SET_UP_QUIET)])
def test_check_stays_quiet(db: Database, case: Case) -> None:
    _setup(db, case)
    found = objects(db, case.check, params=case.params)
    assert _quiet(case, found), found


def test_every_check_has_a_firing_and_a_quiet_fixture() -> None:
    settings = settings_for("postgresql://unused")
    ids = {c.id for c in load_library(settings.checks_dir, settings.project_root)}
    fires = {c.check for c in FIRES} | set(COVERED_ELSEWHERE)
    quiet = {c.check for c in QUIET} | set(COVERED_ELSEWHERE)
    assert ids - fires == set()
    assert ids - quiet == set()
    assert len(ids) >= 30
