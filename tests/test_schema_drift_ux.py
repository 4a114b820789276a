"""Schema drift without false alarms: owner-independent ACLs, a cache keyed by what it
depends on, and the differing part of a definition shown as a diff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ops.migrations import catalog
from tests.conftest import Database


def _drift(run_cli: Any, url: str, home: Path) -> tuple[int, list[dict[str, Any]]]:
    result = run_cli("--json", "check", "--only", "schema_drift", url=url, env={"DBOPS_HOME": str(home)})
    data = json.loads(result.stdout)
    return result.exit_code, data["results"][0]["findings"]


def test_acls_are_compared_whoever_owns_the_objects(db: Database, run_cli: Any, tmp_path: Path) -> None:
    owner = f"ux_app_owner_{db.conn.info.backend_pid}"
    db.conn.execute(f"create role {owner} nologin")
    try:
        for table in ("public.quizzes", "public.topics", "archive.quizzes"):
            db.conn.execute(f"alter table {table} owner to {owner}")
        db.conn.execute(f"alter function app.current_user_id() owner to {owner}")
        code, findings = _drift(run_cli, db.url, tmp_path)
        assert findings == [] and code == 0, findings
        db.conn.execute("grant delete on public.quizzes to anon")  # a real ACL change still shows
        code, findings = _drift(run_cli, db.url, tmp_path)
        assert [f["object"] for f in findings] == ["relation public.quizzes"]
    finally:
        db.conn.execute(f"reassign owned by {owner} to current_user")
        db.conn.execute(f"drop owned by {owner}")
        db.conn.execute(f"drop role {owner}")


def test_each_grant_shows_on_its_own_objects_row(db: Database) -> None:
    """Schemas, relations, columns and functions each show their own ACL, a column's by its number."""
    grantee = f"ux_grantee_{db.conn.info.backend_pid}"
    before = catalog.snapshot(db.conn)
    db.conn.execute(f"create role {grantee} nologin")
    try:
        db.conn.execute(f"grant usage on schema app to {grantee} with grant option")
        db.conn.execute(f"grant select on public.topics to {grantee}")
        db.conn.execute(f"grant update (questions) on public.quizzes to {grantee}")
        db.conn.execute(f"grant execute on function app.current_user_id() to {grantee}")
        changed = {(d.kind, d.identity): d.after for d in catalog.diff(before, catalog.snapshot(db.conn))}
    finally:
        db.conn.execute(f"drop owned by {grantee}")
        db.conn.execute(f"drop role {grantee}")
    expected = {
        ("column", "public.quizzes.questions"): "UPDATE",
        ("function", "app.current_user_id()"): "EXECUTE",
        ("relation", "public.topics"): "SELECT",
        ("schema", "app"): "USAGE*",
    }
    assert sorted(changed) == sorted(expected)
    for key, privilege in expected.items():
        assert f"{grantee}={privilege}/OWNER" in (changed[key] or "").split("acl=")[-1].split(","), key


def test_the_expected_schema_cache_depends_on_the_role(db: Database, run_cli: Any, tmp_path: Path) -> None:
    other = f"ux_other_{db.conn.info.backend_pid}"
    db.conn.execute(f"create role {other} login superuser")
    try:
        assert _drift(run_cli, db.url, tmp_path)[0] == 0
        assert len(list((tmp_path / "cache").glob("schema-*.json"))) == 1
        assert _drift(run_cli, db.url + f" user={other}", tmp_path)[0] == 0
        assert len(list((tmp_path / "cache").glob("schema-*.json"))) == 2
    finally:
        db.conn.execute(f"drop role {other}")


def test_a_changed_definition_is_shown_as_a_diff(db: Database, run_cli: Any, tmp_path: Path) -> None:
    body = db.scalar("select pg_get_functiondef('app.current_user_id()'::regprocedure)")
    changed = body.replace("'sub'", "'subject'")
    assert changed != body
    db.conn.execute(changed)
    code, findings = _drift(run_cli, db.url, tmp_path)
    assert code == 1
    (finding,) = [f for f in findings if f["object"] == "function app.current_user_id()"]
    detail = finding["detail"]
    assert "--- migrations" in detail and "+++ live" in detail, detail
    minus = [line for line in detail.splitlines() if line.startswith("-") and not line.startswith("---")]
    plus = [line for line in detail.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert any("'sub'" in line for line in minus) and any("'subject'" in line for line in plus), detail
    assert "..." not in detail  # never cut to identical prefixes
    text = run_cli("check", "--only", "schema_drift", url=db.url, env={"DBOPS_HOME": str(tmp_path)})
    assert "+++ live" in text.output
