"""`dbops lint` reports as text, SARIF 2.1.0 (one run per tool) and GitHub workflow commands."""

from __future__ import annotations

from typing import Any

from ops.lint.model import SOURCES, Finding, LintReport, RuleInfo
from ops.sarif import Location, Result, Rule, Run, sarif_log

_TOOL_URIS = {
    "sqlfluff": "https://www.sqlfluff.com/",
    "squawk": "https://squawkhq.com/",
    "dbops": "https://pypi.org/project/exammentor-dbops/",
}
_GITHUB_LEVELS = {"error": "error", "warning": "warning", "note": "notice"}


def text_lines(report: LintReport, *, show_waived: bool = False) -> list[str]:
    """One line per finding and a summary; waived findings as a count unless `show_waived`."""
    lines = [
        f"{f.path}:{f.line}:{f.column}: {f.level} {f.rule} {f.message} [{f.source}]" for f in report.findings
    ]
    for w in report.waived if show_waived else ():
        f = w.finding
        lines.append(f"waived {f.path}:{f.line}: {f.rule} [{f.source}]: {w.reason}")
    counts = ", ".join(f"{n} {level}" + ("s" if n != 1 else "") for level, n in report.counts.items() if n)
    timing = ", ".join(f"{k} {v:.2f}s" for k, v in report.timings.items())
    if report.cached_files:
        timing += f"; sqlfluff cached for {report.cached_files} file(s)"
    summary = f"{len(report.findings)} finding(s) ({counts})" if report.findings else "no findings"
    waived_hint = " (--show-waived lists them)" if report.waived and not show_waived else ""
    lines.append(
        f"{summary} in {len(report.files)} file(s); {len(report.waived)} waived{waived_hint}; "
        f"fail-on safety {report.fail_on}, style {report.style_fail_on}: "
        f"{'FAIL' if report.failed else 'ok'} ({timing})"
    )
    return lines


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github_lines(report: LintReport) -> list[str]:
    """`::error file=...,line=...,col=...,title=...::message`, one per finding."""
    lines = []
    for f in report.findings:
        props = ",".join(
            f"{k}={_escape_property(str(v))}"
            for k, v in (
                ("file", f.path),
                ("line", f.line),
                ("col", f.column),
                ("title", f"{f.source} {f.rule}"),
            )
        )
        lines.append(f"::{_GITHUB_LEVELS[f.level]} {props}::{_escape_data(f'{f.rule}: {f.message}')}")
    lines.append(
        f"dbops lint: {len(report.findings)} finding(s), {len(report.waived)} waived, "
        f"fail-on safety {report.fail_on}, style {report.style_fail_on}: {'FAIL' if report.failed else 'ok'}"
    )
    return lines


def _result(f: Finding, reason: str | None = None) -> Result:
    return Result(
        rule_id=f.rule,
        level=f.level,
        message=f.message,
        location=Location(
            uri=f.path, uri_base_id="%SRCROOT%", start_line=max(f.line, 1), start_column=max(f.column, 1)
        ),
        suppression=("inSource", reason) if reason is not None else None,
    )


def _rule(info: RuleInfo) -> Rule:
    return Rule(
        id=info.id,
        short=info.help.split(". ")[0][:200],
        full=info.help,
        help=info.help,
        help_uri=info.help_uri or None,
    )


def sarif(report: LintReport) -> dict[str, Any]:
    """SARIF 2.1.0: one run per tool, each with its rules; waived results carry a suppression."""
    runs: list[Run] = []
    for source in SOURCES:
        findings: list[tuple[Finding, str | None]] = [
            (f, None) for f in report.findings if f.source == source
        ]
        findings += [(w.finding, w.reason) for w in report.waived if w.finding.source == source]
        every = {r.id for r in report.rules.values() if r.source == source == "dbops"}
        used = sorted({f.rule for f, _ in findings} | every)
        infos = [report.rules.get(rule, RuleInfo(rule, source, rule)) for rule in used]
        runs.append(
            Run(
                tool=source,
                information_uri=_TOOL_URIS[source],
                rules=[_rule(i) for i in infos],
                uri_base_ids={"%SRCROOT%": "the project root"},
                results=[_result(f, reason) for f, reason in findings],
            )
        )
    return sarif_log(runs)
