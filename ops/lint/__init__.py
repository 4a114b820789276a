"""`dbops lint`: sqlfluff, squawk and the project's own rules over migrations/, policies/ and checks/."""

from ops.lint.engine import file_findings, lint
from ops.lint.model import CATEGORIES, Finding, LintFile, LintReport, RuleInfo, WaivedFinding
from ops.lint.output import github_lines, sarif, text_lines
from ops.vocabulary import FAIL_ON

__all__ = [
    "CATEGORIES",
    "FAIL_ON",
    "Finding",
    "LintFile",
    "LintReport",
    "RuleInfo",
    "WaivedFinding",
    "file_findings",
    "github_lines",
    "lint",
    "sarif",
    "text_lines",
]
