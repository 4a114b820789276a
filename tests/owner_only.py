"""The owner-only RLS model the query module is written for, applied in a test database.

It mirrors the project's policies (an authenticated caller sees and changes only its own
rows; plan_cache readable by authenticated, written only by service_role) so the query
tests hold whether or not the policies/ files of this checkout are applied.
"""

from __future__ import annotations

from psycopg import sql

from ops.config import Settings
from ops.db import Conn

OWNER = "app.current_user_id()"
POLICIES: dict[str, str] = {
    "users": f"id = {OWNER}",
    "study_sessions": f"user_id = {OWNER}",
    "topics": f"session_id in (select s.id from study_sessions as s where s.user_id = {OWNER})",
    "misconceptions": f"user_id = {OWNER}",
    "tutor_chats": f"user_id = {OWNER}::text",
    "quizzes": f"user_id = {OWNER}::text",
}


def apply_owner_only(conn: Conn) -> None:
    """Replace every policy of the app's tables with the owner-only ones."""
    with conn.transaction():
        for table, policy in conn.execute(
            "select tablename, policyname from pg_policies where schemaname = 'public'"
        ).fetchall():
            conn.execute(
                sql.SQL("drop policy {} on {}").format(sql.Identifier(policy), sql.Identifier(table))
            )
        for table, predicate in POLICIES.items():
            conn.execute(sql.SQL("alter table {} enable row level security").format(sql.Identifier(table)))
            conn.execute(
                sql.SQL("create policy owner_only on {} to authenticated using ({}) with check ({})").format(
                    sql.Identifier(table),
                    sql.SQL(predicate),
                    sql.SQL(predicate),  # type: ignore[arg-type]
                )
            )
        conn.execute("alter table plan_cache enable row level security")
        conn.execute("create policy read_plans on plan_cache for select to authenticated using (true)")


# the query tests run once on each: the model above, and the project's own policies/ files
POLICY_MODELS = ("owner-only model", "shipped policies")


def apply_policy_model(conn: Conn, model: str, settings: Settings) -> None:
    """Put `model` in force: the owner-only model, or (as migrated) exactly the shipped files."""
    from ops import policies

    if model == "owner-only model":
        apply_owner_only(conn)
        return
    assert model == "shipped policies", model
    # the test template is migrated with the policies applied: check they are the files' own
    assert policies.diff(conn, settings).differences == ()
