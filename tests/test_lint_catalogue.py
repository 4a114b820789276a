"""The unsafe-operation catalogue (`ops.lint.catalogue`): every unsafe migration runs on
PostgreSQL (it is valid SQL) and is flagged by its rule, whose message names the lock and
the safe recipe; every safe recipe runs too and lints clean; README's table is current."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from ops.config import load_settings
from ops.lint import lint
from ops.lint.catalogue import CATALOGUE, END, START, Step, UnsafeOperation, markdown_table, readme_with_table
from ops.lint.model import Finding
from ops.vocabulary import reaches
from tests.conftest import Database
from tests.server import ROOT

IDS = [op.operation.replace(" ", "-") for op in CATALOGUE]


def _history(root: Path, op: UnsafeOperation, steps: tuple[Step, ...]) -> list[Path]:
    """A migrations directory: the setup as 0001, then the steps; returns the steps' files."""
    directory = root / "migrations"
    directory.mkdir(parents=True)
    previous = None
    out = []
    for number, step in enumerate((Step(op.setup), *steps), 1):
        name = f"{number:04d}_{'setup' if number == 1 else 'step'}"
        headers = [f"-- depends: {previous}"] if previous else []
        headers += [] if step.transactional else ["-- transactional: false"]
        (directory / f"{name}.sql").write_text("\n".join([*headers, step.sql.rstrip(), ""]), encoding="utf-8")
        (directory / f"{name}.rollback.sql").write_text("select 1;\n", encoding="utf-8")
        previous = name
        out.append(directory / f"{name}.sql")
    return out[1:]


def _lint(root: Path, paths: list[Path]) -> list[Finding]:
    report = lint(load_settings({}, {}, ROOT), paths, cwd=root, categories=("safety",))
    return list(report.findings)


@pytest.mark.parametrize("op", CATALOGUE, ids=IDS)
def test_unsafe_operation_is_flagged_with_its_lock_and_recipe(tmp_path: Path, op: UnsafeOperation) -> None:
    (unsafe,) = _history(tmp_path, op, (op.unsafe,))
    found = [f for f in _lint(tmp_path, [unsafe]) if f.rule == op.rule]
    assert found, f"{op.operation}: {op.rule} did not fire"
    for f in found:
        assert reaches(f.level, "warning")
        assert f"lock: {op.lock}" in f.message and f"safe: {op.safe}" in f.message, f.message


@pytest.mark.parametrize(
    "op",
    [op for op in CATALOGUE if op.recipe],
    ids=[i for i, op in zip(IDS, CATALOGUE, strict=True) if op.recipe],
)
def test_safe_recipe_lints_clean(tmp_path: Path, op: UnsafeOperation) -> None:
    steps = _history(tmp_path, op, op.recipe)
    assert _lint(tmp_path, steps) == []


def _fresh(db: Database, setup: str) -> None:
    db.conn.execute("drop schema public cascade; create schema public")
    db.conn.execute(setup)


def test_every_migration_of_the_catalogue_runs_on_postgresql(empty_db: Database) -> None:
    """Unsafe and safe alike are valid SQL: each runs once (autocommit, as a non-transactional
    migration would) on a fresh public schema. Those that cannot run in a transaction are also
    shown to fail inside one, which is what concurrently-in-transaction reports."""
    db = empty_db
    for op in CATALOGUE:
        _fresh(db, op.setup)
        if op.rule == "concurrently-in-transaction":
            with pytest.raises(psycopg.errors.ActiveSqlTransaction), db.conn.transaction():
                db.conn.execute(op.unsafe.sql)
        db.conn.execute(op.unsafe.sql)
        _fresh(db, op.setup)
        for step in op.recipe:
            if step.transactional:
                with db.conn.transaction():
                    db.conn.execute(step.sql)
            else:
                db.conn.execute(step.sql)
    db.conn.execute("drop schema public cascade; create schema public")


def test_every_safety_rule_of_the_catalogue_has_a_control_or_says_why() -> None:
    without = sorted(op.operation for op in CATALOGUE if not op.recipe)
    # their recipe runs outside migrations (an online repack): nothing to lint
    assert without == sorted(
        ["CLUSTER", "move a table to another tablespace", "make a table unlogged (or logged)"]
    )


def test_readme_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert START in readme and END in readme
    assert readme_with_table(readme) == readme, "run: python -m ops.lint.catalogue --write README.md"
    assert markdown_table().count("\n") == len(CATALOGUE) + 1
