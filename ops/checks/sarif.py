"""`dbops check --format sarif`: one rule per check that ran, one result per finding.

Each result names the database object as a logical location and the check's file as its
physical location (code scanning shows a result only with one). A waived finding carries
an external suppression with the waiver's reason; an unknown check is a tool execution
notification and makes the invocation unsuccessful.
"""

from __future__ import annotations

from typing import Any

from ops.checks.runner import CheckReport
from ops.sarif import Level, Location, Result, Rule, Run, sarif_log, tool_version

_LEVEL: dict[str, Level] = {"error": "error", "warning": "warning", "info": "note"}


def _artifact(source: str) -> str:
    """The file a check comes from: checks/<id>.sql. A Python-backed check has no file in the
    user's repository, so its results point at the configuration that governs it,
    pyproject.toml (the object is the logical location)."""
    return "pyproject.toml" if source.startswith("python:") else source


def to_sarif(report: CheckReport) -> dict[str, Any]:
    rules = [
        Rule(
            id=r.check,
            name="".join(part.capitalize() for part in r.check.split("_")),
            short=r.description.split(": ")[0][:200],
            full=r.description,
            help=r.remediation,
            help_markdown=f"**Remediation:** {r.remediation}",
            default_level=_LEVEL[r.severity],
            properties={"category": r.category, "tags": [r.category, "database"]},
        )
        for r in report.results
    ]
    results = [
        Result(
            rule_id=f.check,
            level=_LEVEL[f.severity],
            message=f"{f.object}: {f.detail}",
            location=Location(
                uri=_artifact(r.source), logical_name=f.object, logical_fqn=f"{report.database}/{f.object}"
            ),
            fingerprint=("dbopsFindingId/v1", f.id),
            suppression=("external", f.waiver_reason or "") if f.waived else None,
        )
        for r in report.results
        for f in r.findings
    ]
    run = Run(
        tool="dbops",
        semantic_version=tool_version(),
        rules=rules,
        results=results,
        notifications=[(r.check, f"check {r.check} did not run: {r.reason}") for r in report.unknown],
        automation_id=f"dbops-check/{report.database}/",
    )
    return sarif_log([run])
