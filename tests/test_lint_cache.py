"""sqlfluff's findings are cached per file: an unchanged file is not linted again; a change
to the file, to its sqlfluff configuration or to the tools' versions misses."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ops.config import load_settings
from ops.lint import lint
from ops.lint.cache import cache_dir

PYPROJECT = """\
[tool.dbops]

[tool.dbops.lint]
style_fail_on = "warning"

[tool.sqlfluff.core]
dialect = "postgres"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "policies").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    for name in ("a", "b", "c"):
        (root / "policies" / f"{name}.sql").write_text(
            f"alter table {name} enable row level security;\n", encoding="utf-8"
        )
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return root


def _lint(root: Path) -> tuple[int, list[tuple[str, int, str]]]:
    report = lint(load_settings({}, {}, root), [root / "policies"], cwd=root, processes=1)
    return report.cached_files, sorted((f.path, f.line, f.rule) for f in report.findings)


def test_unchanged_files_come_from_the_cache(project: Path, tmp_path: Path) -> None:
    cold = _lint(project)
    assert cold == (0, [])
    assert _lint(project) == (3, [])  # warm: nothing linted again
    (project / "policies" / "b.sql").write_text(
        "ALTER table b enable row level security;\n", encoding="utf-8"
    )
    cached, findings = _lint(project)
    assert cached == 2  # the one changed file linted again
    assert findings and {(path, rule) for path, _, rule in findings} == {("policies/b.sql", "CP01")}
    assert _lint(project) == (3, findings)  # and cached with its findings
    root = cache_dir()
    assert root == tmp_path / "xdg" / "dbops" / "lint" and root.is_relative_to(tmp_path)
    entries = [p for p in root.rglob("*.json")]
    assert entries and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in entries)


def test_a_configuration_change_misses(project: Path) -> None:
    _lint(project)
    (project / "policies" / ".sqlfluff").write_text(
        "[sqlfluff:rules:capitalisation.keywords]\n", encoding="utf-8"
    )
    assert _lint(project)[0] == 0
    pyproject = project / "pyproject.toml"
    pyproject.write_text(PYPROJECT + "\n[tool.sqlfluff.rules]\nallow_scalar = true\n", encoding="utf-8")
    assert _lint(project)[0] == 0
    assert _lint(project)[0] == 3


def test_a_tool_version_change_misses(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _lint(project)
    monkeypatch.setattr("ops.lint.cache.__version__", "9.9.9")
    assert _lint(project)[0] == 0


def test_no_cache_and_a_broken_entry(project: Path) -> None:
    _lint(project)
    report = lint(load_settings({}, {}, project), [project / "policies"], cwd=project, cache=False)
    assert report.cached_files == 0
    for entry in cache_dir().rglob("*.json"):
        entry.write_text("{not json", encoding="utf-8")
    assert _lint(project) == (0, [])  # a broken entry is a miss, and is rewritten
    assert _lint(project)[0] == 3


def test_the_cache_dir_follows_the_environment() -> None:
    assert cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/dbops/lint")
    assert cache_dir({"DBOPS_LINT_CACHE_DIR": "/y", "XDG_CACHE_HOME": "/x"}) == Path("/y")
    assert cache_dir({"HOME": os.environ.get("HOME", "/root")}).parts[-3:] == (".cache", "dbops", "lint")
