"""A check's definition: the headers of `checks/*.sql` (one read-only SELECT per file), also used by
the Python-backed checks.

Every check carries the same metadata (design §1 headers): id, severity, category,
description, remediation, and optionally `-- requires:` (what the checking role must be
able to see, so a check that cannot see everything is reported `unknown`, never passed)
and `-- deep: true` (runs only with `--deep`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ops.checks.headers import CATEGORIES, HINT, header_problems, requirements
from ops.errors import ConfigError
from ops.sqlfiles import read_sql_file
from ops.vocabulary import SEVERITIES, severity_rank, severity_word


@dataclass(frozen=True)
class CheckDef:
    id: str
    severity: str
    category: str
    description: str
    remediation: str
    source: str  # checks/<id>.sql, or python:<module>.<function>
    kind: Literal["sql", "python"]
    deep: bool = False
    requires: tuple[str, ...] = ()
    sql: str = ""


__all__ = ["CATEGORIES", "SEVERITIES", "CheckDef", "check_from_file", "severity_rank"]


def check_from_file(path: Path, root: Path | None = None) -> CheckDef:
    """One `checks/*.sql` file with its header validated (ops.checks.headers, as lint does)."""
    f = read_sql_file(path)
    where = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    h = f.headers
    problems = header_problems(h)
    if problems:
        raise ConfigError(f"{where}: {problems[0].message}", HINT)
    severity = severity_word(h["severity"])
    assert severity is not None  # header_problems refused it otherwise
    return CheckDef(
        id=h["id"],
        severity=severity,  # the vocabulary's word, whichever spelling the header used
        category=h["category"],
        description=h["description"],
        remediation=h["remediation"],
        source=where,
        kind="sql",
        deep=h.get("deep", "false").lower() == "true",
        requires=requirements(h.get("requires", "")),
        sql=f.text,
    )
