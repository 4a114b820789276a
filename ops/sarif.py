"""SARIF 2.1.0 for code-scanning uploads: one rule per check that ran, one result per finding.

Each result names the database object as a logical location and the check's file as its
physical location (code scanning shows a result only with one). A waived finding carries
an external suppression with the waiver's reason; an unknown check is a tool execution
notification and makes the invocation unsuccessful.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ops.checks import CheckReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warn": "warning", "info": "note"}


def _version() -> str:
    try:
        return version("exammentor-dbops")
    except PackageNotFoundError:
        return "0"


def _artifact(source: str) -> str:
    """The check's file; a Python-backed check has none in the user's repository, so its
    results point at the configuration that governs it (the object is the logical location)."""
    return "pyproject.toml" if source.startswith("python:") else source


def to_sarif(report: CheckReport) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for r in report.results:
        index[r.check] = len(rules)
        rules.append(
            {
                "id": r.check,
                "name": "".join(part.capitalize() for part in r.check.split("_")),
                "shortDescription": {"text": r.description.split(": ")[0][:200]},
                "fullDescription": {"text": r.description},
                "help": {"text": r.remediation, "markdown": f"**Remediation:** {r.remediation}"},
                "defaultConfiguration": {"level": _LEVEL[r.severity]},
                "properties": {"category": r.category, "tags": [r.category, "database"]},
            }
        )
    results = []
    for r in report.results:
        for f in r.findings:
            result: dict[str, Any] = {
                "ruleId": f.check,
                "ruleIndex": index[f.check],
                "level": _LEVEL[f.severity],
                "message": {"text": f"{f.object}: {f.detail}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _artifact(r.source)},
                            "region": {"startLine": 1},
                        },
                        "logicalLocations": [
                            {"fullyQualifiedName": f"{report.database}/{f.object}", "name": f.object}
                        ],
                    }
                ],
                "partialFingerprints": {"dbopsFindingId/v1": f.id},
            }
            if f.waived:
                result["suppressions"] = [{"kind": "external", "justification": f.waiver_reason or ""}]
            results.append(result)
    notifications = [
        {
            "level": "error",
            "message": {"text": f"check {r.check} did not run: {r.reason}"},
            "descriptor": {"id": r.check},
        }
        for r in report.unknown
    ]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "dbops",
                        "semanticVersion": _version(),
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not report.unknown,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "automationDetails": {"id": f"dbops-check/{report.database}/"},
                "results": results,
            }
        ],
    }
