"""The check library: `checks/*.sql` plus the Python-backed checks, sorted by category and id."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ops.checks.builtin import PYTHON_CHECKS
from ops.checks.library import CATEGORIES, CheckDef, check_from_file
from ops.errors import ConfigError


def _stamp(checks_dir: Path) -> tuple[tuple[str, int, int], ...]:
    if not checks_dir.is_dir():
        return ()
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(checks_dir.glob("*.sql")))


@cache
def _load(
    checks_dir: Path, project_root: Path | None, stamp: tuple[tuple[str, int, int], ...]
) -> tuple[CheckDef, ...]:
    checks = [check_from_file(checks_dir / name, project_root) for name, _, _ in stamp]
    checks += [c.definition for c in PYTHON_CHECKS]
    seen: dict[str, str] = {}
    for c in checks:
        if c.id in seen:
            raise ConfigError(f"check id {c.id} is defined twice: {seen[c.id]} and {c.source}", "rename one")
        seen[c.id] = c.source
    return tuple(sorted(checks, key=lambda c: (CATEGORIES.index(c.category), c.id)))


def load_library(checks_dir: Path, project_root: Path | None = None) -> tuple[CheckDef, ...]:
    """Every check, SQL files first read from `checks_dir` (cached until a file changes)."""
    return _load(checks_dir.resolve(), project_root, _stamp(checks_dir))
