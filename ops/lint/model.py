"""What `dbops lint` reports: findings from three sources, the waived ones, and the timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ops.sarif import Level
from ops.vocabulary import reaches

# SARIF's levels, ascending; `note` reads as `info` for --fail-on (ops.vocabulary)
LEVELS: tuple[Level, ...] = ("note", "warning", "error")
Source = Literal["sqlfluff", "squawk", "dbops"]
SOURCES: tuple[Source, ...] = ("sqlfluff", "squawk", "dbops")
# style: how the SQL reads (sqlfluff); safety: what it does to a live database and whether it
# runs at all (squawk, dbops). Each has its own --fail-on; safety fails CI by default.
CATEGORIES = ("style", "safety")
DEFAULT_FAIL_ON = {"safety": "warning", "style": "none"}


FileKind = Literal["migration", "rollback", "policy", "check", "sql"]


@dataclass(frozen=True)
class LintFile:
    path: Path
    display: str  # relative to the project root where possible, with '/'
    kind: FileKind
    transactional: bool = True


@dataclass(frozen=True)
class Finding:
    path: str
    line: int  # 1-based
    column: int  # 1-based
    rule: str
    level: Level
    message: str
    source: Source

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.rule)

    @property
    def category(self) -> str:
        return "style" if self.source == "sqlfluff" else "safety"


@dataclass(frozen=True)
class WaivedFinding:
    finding: Finding
    reason: str
    waiver_line: int


@dataclass(frozen=True)
class RuleInfo:
    id: str
    source: str
    help: str
    help_uri: str | None = None


@dataclass(frozen=True)
class LintReport:
    files: tuple[str, ...]
    findings: tuple[Finding, ...]
    waived: tuple[WaivedFinding, ...]
    fail_on: str  # for safety findings
    timings: dict[str, float] = field(default_factory=dict)  # seconds per source, and "total"
    rules: dict[str, RuleInfo] = field(default_factory=dict)
    style_fail_on: str = DEFAULT_FAIL_ON["style"]
    cached_files: int = 0  # files whose sqlfluff findings came from the cache

    def fails(self, finding: Finding) -> bool:
        limit = self.style_fail_on if finding.category == "style" else self.fail_on
        return reaches(finding.level, limit)

    @property
    def failed(self) -> bool:
        return any(self.fails(f) for f in self.findings)

    @property
    def counts(self) -> dict[str, int]:
        return {level: sum(1 for f in self.findings if f.level == level) for level in reversed(LEVELS)}
