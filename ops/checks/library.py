"""A check's definition: the headers of `checks/*.sql` (one read-only SELECT per file), also used by
the Python-backed checks.

Every check carries the same metadata (design §1 headers): id, severity, category,
description, remediation, and optionally `-- requires:` (what the checking role must be
able to see, so a check that cannot see everything is reported `unknown`, never passed)
and `-- deep: true` (runs only with `--deep`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ops.errors import ConfigError
from ops.sqlfiles import read_sql_file

SEVERITIES = ("info", "warn", "error")
CATEGORIES = ("security", "integrity", "performance", "migration", "physical")
REQUIREMENTS = ("read-tables", "read-sequences", "superuser", "createdb")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIREMENT = re.compile(r"^(?:extension|role):[a-z_][a-z0-9_]*$")
_REQUIRED_HEADERS = ("id", "severity", "category", "description", "remediation")


@dataclass(frozen=True)
class CheckDef:
    id: str
    severity: str
    category: str
    description: str
    remediation: str
    source: str  # checks/<id>.sql, or python:<module>.<function>
    kind: str  # sql | python
    deep: bool = False
    requires: tuple[str, ...] = ()
    sql: str = ""


def severity_rank(severity: str) -> int:
    """info 1, warn 2, error 3; `none` (never fail on findings) ranks above all."""
    return {"info": 1, "warn": 2, "error": 3, "none": 4}[severity]


def parse_requirements(value: str, where: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in value.replace(",", " ").split() if part.strip())
    for item in items:
        if item not in REQUIREMENTS and not _REQUIREMENT.match(item):
            raise ConfigError(
                f"{where}: unknown requirement {item!r}",
                f"use {', '.join(REQUIREMENTS)}, extension:NAME or role:NAME",
            )
    return items


def check_from_file(path: Path, root: Path | None = None) -> CheckDef:
    """One `checks/*.sql` file with its header validated."""
    f = read_sql_file(path)
    where = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    missing = [h for h in _REQUIRED_HEADERS if not f.headers.get(h)]
    if missing:
        raise ConfigError(
            f"{where}: header {', '.join('-- ' + m + ':' for m in missing)} missing",
            "every check starts with -- id:, -- severity:, -- category:, -- description:, -- remediation:",
        )
    h = f.headers
    if not _ID.match(h["id"]):
        raise ConfigError(f"{where}: check id {h['id']!r} is not snake_case", "use letters, digits and _")
    if h["severity"] not in SEVERITIES:
        raise ConfigError(f"{where}: severity {h['severity']!r}", f"use one of {', '.join(SEVERITIES)}")
    if h["category"] not in CATEGORIES:
        raise ConfigError(f"{where}: category {h['category']!r}", f"use one of {', '.join(CATEGORIES)}")
    return CheckDef(
        id=h["id"],
        severity=h["severity"],
        category=h["category"],
        description=h["description"],
        remediation=h["remediation"],
        source=where,
        kind="sql",
        deep=h.get("deep", "false").lower() == "true",
        requires=parse_requirements(h.get("requires", ""), where),
        sql=f.text,
    )
