"""The import directions of README's architecture section, enforced over the source files.

Statically (every import statement in ops/, function-level ones included, since the CLI and
the library import lazily) and once for real: importing `ops.queries` in a fresh interpreter
must load nothing but the shared modules it needs.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

OPS = Path(__file__).resolve().parent.parent / "ops"

# Shared modules at the top of ops/: any layer may use them; they use only each other.
SHARED = {
    "__init__", "config", "db", "embedded", "errors", "failpoints", "locks", "metrics", "progress", "retry",
    "sarif", "sqlfiles", "vocabulary",
}  # fmt: skip

# capability package -> the capability packages it may import (README, "Architecture")
ALLOWED: dict[str, set[str]] = {
    "sqltext": set(),
    "migrations": {"sqltext"},
    "policies": {"migrations", "sqltext"},
    "checks": {"migrations", "policies", "sqltext"},
    "lint": {"sqltext", "migrations", "policies", "checks", "retention"},
    "retention": set(),
    "deploy": {"migrations", "policies"},
    "backup": {"migrations", "checks"},
    "wal": {"backup"},
    "sample": set(),
    "queries": set(),
}


def _unit(path: Path) -> str:
    """What a file belongs to: a package name (`migrations`, `cli`) or a shared module."""
    parts = path.relative_to(OPS).with_suffix("").parts
    return parts[0]


def _imported_units(tree: ast.AST) -> set[str]:
    """The ops packages and shared modules a module's import statements name."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] != "ops":
                continue
            if len(parts) > 1:
                found.add(parts[1])
            else:  # from ops import migrations, sqlfiles
                found.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("ops."))
    found.discard("__version__")
    return found


def forbidden_imports(root: Path = OPS) -> list[str]:
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        unit = _unit(path)
        if unit in ("cli", "__main__"):
            continue  # the CLI sits on top and may use everything
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for target in sorted(_imported_units(tree) - {unit}):
            if target == "cli":
                problems.append(f"{path.relative_to(root.parent)}: the library imports ops.cli")
            elif target in SHARED:
                continue
            elif unit in SHARED:
                problems.append(f"{path.relative_to(root.parent)}: shared module imports ops.{target}")
            elif unit in ALLOWED and target not in ALLOWED[unit]:
                problems.append(f"{path.relative_to(root.parent)}: ops.{unit} imports ops.{target}")
    return problems


def test_every_package_and_shared_module_is_known() -> None:
    units = {_unit(p) for p in OPS.rglob("*.py")} - {"cli", "__main__"}
    assert units <= SHARED | set(ALLOWED), sorted(units - SHARED - set(ALLOWED))
    assert {p.name for p in OPS.iterdir() if (p / "__init__.py").is_file()} == set(ALLOWED) | {"cli"}


def test_imports_follow_the_allowed_directions() -> None:
    assert forbidden_imports() == []


@pytest.mark.parametrize("package", ["ops.queries", "ops.migrations", "ops.retention", "ops.sample"])
def test_importing_a_package_loads_only_what_it_may_use(package: str) -> None:
    """A real import in a fresh interpreter: what `import ops.X` pulls in, lazily loaded or not."""
    out = subprocess.run(
        [sys.executable, "-c", f"import json, sys, {package}; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {m.split(".")[1] for m in json.loads(out.stdout) if m.startswith("ops.")}
    unit = package.split(".")[1]
    assert loaded - SHARED - ALLOWED[unit] - {unit} == set()
    if package == "ops.queries":  # an application uses it with psycopg alone
        top_level = {m.split(".")[0] for m in json.loads(out.stdout)}
        assert not top_level & {"yoyo", "click", "rich", "sqlfluff"}
