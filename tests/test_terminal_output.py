"""What an operator's terminal shows: tables keep every name whole at 80 and 100 columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ops.cli._context import rich_table
from tests.conftest import Database
from tests.retention_data import fill_archivable, fill_plan_cache
from tests.terminal import plain, run_on_terminal

WIDTHS = (80, 100)


def _whole(names: list[str], shown: str) -> list[str]:
    """The names that do not appear whole on one row of a table in the output."""
    lines = [line for line in shown.splitlines() if line.startswith("│")]
    return [n for n in names if not any(n in line for line in lines)]


@pytest.mark.parametrize("columns", WIDTHS)
def test_check_list_shows_every_check_id_whole(columns: int, run_cli: Any) -> None:
    ids = [c["id"] for c in json.loads(run_cli("--json", "check", "--list").output)]
    shown = run_on_terminal("check", "--list", columns=columns)
    assert shown.exit_code == 0, shown.stderr
    assert "┃ check" in shown.stdout  # a rich table, not the piped columns
    assert _whole(ids, shown.stdout) == []
    assert max(len(line) for line in shown.stdout.splitlines()) <= columns


@pytest.mark.parametrize("columns", WIDTHS)
def test_status_retention_backups_and_findings_show_names_whole(
    columns: int, db: Database, run_cli: Any, tmp_path: Path
) -> None:
    status = run_on_terminal("status", url=db.url, columns=columns)
    migrations = [m["id"] for m in json.loads(run_cli("--json", "status", url=db.url).output)["migrations"]]
    assert _whole(migrations, status.stdout) == []

    fill_plan_cache(db.conn, 40)
    fill_archivable(db.conn)
    retention = run_on_terminal("retention", "run", "--dry-run", url=db.url, columns=columns)
    assert retention.exit_code == 0, retention.stderr
    planned = json.loads(run_cli("--json", "retention", "run", "--dry-run", url=db.url).output)
    rules = [r["rule"] for r in planned["rules"]]
    assert rules and _whole(rules, retention.stdout) == []

    taken = run_cli("backup", "--dir", str(tmp_path), url=db.url)
    assert taken.exit_code == 0, taken.output
    backups = run_on_terminal("backup", "list", "--dir", str(tmp_path), url=db.url, columns=columns)
    (name,) = [p.name for p in tmp_path.iterdir()]
    assert _whole([name], backups.stdout) == []

    found = run_on_terminal("check", "--only", "extension_in_public", url=db.url, columns=columns)
    assert _whole(["extension_in_public:vector"], found.stdout) == []


def test_a_long_name_stays_whole_and_the_other_columns_wrap() -> None:
    from io import StringIO

    from rich.console import Console

    name = "rls_policy_always_true:public.quizzes.Allow all access to quizzes"
    out = StringIO()
    Console(file=out, width=80).print(
        rich_table(["severity", "finding", "detail"], [("error", name, "x " * 60)], None, names="finding")
    )
    assert _whole([name], out.getvalue()) == []


def test_names_from_the_database_are_shown_not_obeyed(db: Database) -> None:
    """A table named with rich markup or terminal escapes (any role with CREATE can make one)
    neither breaks `check` on a terminal nor retitles, moves or clears the operator's terminal."""
    from psycopg import sql

    hostile = "z\x1b]0;PWNED\x07\x1b[2J[/]"
    db.conn.execute(
        sql.SQL("create table public.{} (v int)").format(sql.Identifier(hostile))
    )  # no primary key
    shown = run_on_terminal("check", "--only", "table_without_primary_key", url=db.url, raw=True)
    assert shown.exit_code == 0, shown.stdout  # a warning, not a MarkupError (exit 4)
    assert "\x1b]0;" not in shown.stdout and "\x1b[2J" not in shown.stdout
    text = plain(shown.stdout).replace("\n", "").replace("│", "").replace(" ", "")
    assert "z\\x1b]0;PWNED\\x07\\x1b[2J[/]" in text
