"""The one SARIF 2.1.0 writer, for code-scanning uploads of `dbops lint` and `dbops check`.

Each capability turns its report into `Run`s of `Rule`s and `Result`s (`ops.lint.output`,
`ops.checks.sarif`); this module writes them in SARIF's shape. A suppressed result carries
its justification; a tool execution notification marks what could not run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
Level = Literal["error", "warning", "note"]


def tool_version() -> str:
    try:
        return version("exammentor-dbops")
    except PackageNotFoundError:
        return "0"


@dataclass(frozen=True)
class Rule:
    id: str
    short: str
    full: str
    help: str
    help_markdown: str | None = None
    help_uri: str | None = None
    name: str | None = None
    default_level: Level | None = None
    properties: dict[str, Any] | None = None


@dataclass(frozen=True)
class Location:
    uri: str
    start_line: int = 1
    start_column: int | None = None
    uri_base_id: str | None = None
    logical_name: str | None = None  # a database object, e.g. public.users
    logical_fqn: str | None = None


@dataclass(frozen=True)
class Result:
    rule_id: str
    level: Level
    message: str
    location: Location
    suppression: tuple[Literal["inSource", "external"], str] | None = None  # (kind, justification)
    fingerprint: tuple[str, str] | None = None  # (name, value) of a partial fingerprint


@dataclass(frozen=True)
class Run:
    tool: str
    rules: Sequence[Rule]
    results: Sequence[Result]
    information_uri: str | None = None
    semantic_version: str | None = None
    notifications: Sequence[tuple[str, str]] | None = None  # (rule id, message): what did not run
    automation_id: str | None = None
    uri_base_ids: dict[str, str] = field(default_factory=dict)  # id -> description


def _rule(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rule.id}
    if rule.name is not None:
        out["name"] = rule.name
    out["shortDescription"] = {"text": rule.short}
    out["fullDescription"] = {"text": rule.full}
    out["help"] = {"text": rule.help} | ({"markdown": rule.help_markdown} if rule.help_markdown else {})
    if rule.help_uri:
        out["helpUri"] = rule.help_uri
    if rule.default_level is not None:
        out["defaultConfiguration"] = {"level": rule.default_level}
    if rule.properties is not None:
        out["properties"] = rule.properties
    return out


def _location(loc: Location) -> dict[str, Any]:
    artifact: dict[str, Any] = {"uri": loc.uri}
    if loc.uri_base_id:
        artifact["uriBaseId"] = loc.uri_base_id
    region: dict[str, Any] = {"startLine": loc.start_line}
    if loc.start_column is not None:
        region["startColumn"] = loc.start_column
    out: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact, "region": region}}
    if loc.logical_name is not None:
        out["logicalLocations"] = [{"fullyQualifiedName": loc.logical_fqn, "name": loc.logical_name}]
    return out


def _result(result: Result, rule_index: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ruleId": result.rule_id,
        "ruleIndex": rule_index[result.rule_id],
        "level": result.level,
        "message": {"text": result.message},
        "locations": [_location(result.location)],
    }
    if result.fingerprint is not None:
        out["partialFingerprints"] = {result.fingerprint[0]: result.fingerprint[1]}
    if result.suppression is not None:
        out["suppressions"] = [{"kind": result.suppression[0], "justification": result.suppression[1]}]
    return out


def _run(run: Run) -> dict[str, Any]:
    driver: dict[str, Any] = {"name": run.tool}
    if run.information_uri:
        driver["informationUri"] = run.information_uri
    if run.semantic_version:
        driver["semanticVersion"] = run.semantic_version
    driver["rules"] = [_rule(r) for r in run.rules]
    out: dict[str, Any] = {"tool": {"driver": driver}}
    if run.uri_base_ids:
        out["originalUriBaseIds"] = {k: {"description": {"text": v}} for k, v in run.uri_base_ids.items()}
    if run.notifications is not None:
        out["invocations"] = [
            {
                "executionSuccessful": not run.notifications,
                "toolExecutionNotifications": [
                    {"level": "error", "message": {"text": text}, "descriptor": {"id": rule_id}}
                    for rule_id, text in run.notifications
                ],
            }
        ]
    if run.automation_id:
        out["automationDetails"] = {"id": run.automation_id}
    rule_index = {r.id: i for i, r in enumerate(run.rules)}
    out["results"] = [_result(r, rule_index) for r in run.results]
    return out


def sarif_log(runs: Sequence[Run]) -> dict[str, Any]:
    """The SARIF document: one run per tool."""
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [_run(r) for r in runs]}
