"""The header of a `checks/*.sql` file: one definition for `dbops check` and `dbops lint`.

    -- id: snake_case_id
    -- severity: info | warning | error        (`warn` too)
    -- category: security | integrity | performance | migration | physical
    -- description: ...
    -- remediation: ...
    -- requires: read-tables, extension:vector  (optional)
    -- deep: true                               (optional)

`header_problems` lists every problem, each as the sentence both commands print; the
runtime refuses the file on the first, lint reports them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ops.vocabulary import SEVERITIES, severity_word

CATEGORIES = ("security", "integrity", "performance", "migration", "physical")
REQUIREMENTS = ("read-tables", "read-sequences", "superuser", "createdb")
REQUIRED = ("id", "severity", "category", "description", "remediation")
HINT = "fix the check's header; `dbops lint` lists every problem"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIREMENT = re.compile(r"^(?:extension|role):[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class HeaderProblem:
    key: str  # the header line it is about
    message: str


def requirements(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.replace(",", " ").split() if part.strip())


def header_problems(headers: Mapping[str, str]) -> list[HeaderProblem]:
    problems: list[HeaderProblem] = []
    missing = [key for key in REQUIRED if not headers.get(key)]
    if missing:
        problems.append(
            HeaderProblem(missing[0], "missing header line(s): " + ", ".join(f"-- {k}:" for k in missing))
        )
    check_id = headers.get("id")
    if check_id and not _ID.match(check_id):
        problems.append(HeaderProblem("id", f"check id {check_id!r} is not snake_case: use a-z, 0-9 and _"))
    severity = headers.get("severity")
    if severity and severity_word(severity) is None:
        problems.append(
            HeaderProblem("severity", f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
        )
    category = headers.get("category")
    if category and category not in CATEGORIES:
        problems.append(
            HeaderProblem("category", f"category {category!r} is not one of {', '.join(CATEGORIES)}")
        )
    for item in requirements(headers.get("requires", "")):
        if item not in REQUIREMENTS and not _REQUIREMENT.match(item):
            problems.append(
                HeaderProblem(
                    "requires",
                    f"requirement {item!r} is not one of {', '.join(REQUIREMENTS)}, "
                    "extension:NAME or role:NAME",
                )
            )
    deep = headers.get("deep")
    if deep is not None and deep.lower() not in ("true", "false"):
        problems.append(HeaderProblem("deep", f"deep {deep!r} is not true or false"))
    return problems
