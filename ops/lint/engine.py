"""`dbops lint`: sqlfluff, squawk and dbops' own rules over the project's SQL, as one report.

squawk starts first and runs in the background while sqlfluff lints in-process and the own
rules run; inline waivers (`-- dbops: ignore RULE reason`) are applied to all three.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ops.config import Settings
from ops.errors import ConfigError
from ops.lint.cache import cache_dir as lint_cache_dir
from ops.lint.cache import cached_sqlfluff
from ops.lint.model import (
    CATEGORIES,
    DEFAULT_FAIL_ON,
    FileKind,
    Finding,
    LintFile,
    LintReport,
    RuleInfo,
    WaivedFinding,
)
from ops.lint.rules.checks import check_findings, check_id_findings
from ops.lint.rules.migrations import RULES as OWN_RULES
from ops.lint.rules.migrations import finding as own_finding
from ops.lint.rules.migrations import migration_dir_findings, non_transactional_findings, rule_infos
from ops.lint.rules.policies import policy_findings
from ops.lint.rules.safety import (
    drop_squawk_false_positives,
    enrich_squawk,
    safety_findings,
    safety_rule_infos,
)
from ops.lint.sources import (
    SQLFLUFF_ERROR_CODES,
    SQUAWK_RULES_URL,
    squawk_config,
    start_squawk,
)
from ops.lint.statements import SqlText, parse_sql, waiver_scope
from ops.sqlfiles import parse_headers, read_text
from ops.vocabulary import fail_on as fail_on_word

_KIND_BY_DIR_NAME: dict[str, FileKind] = {"migrations": "migration", "policies": "policy", "checks": "check"}


def lint_settings(settings: Settings) -> Mapping[str, Any]:
    table = settings.tool.get("lint", {})
    if not isinstance(table, dict):
        raise ConfigError("[tool.dbops.lint] must be a table", "see README, `dbops lint`")
    return table


def _fail_level(given: str | None, table: Mapping[str, Any], key: str, category: str) -> str:
    return fail_on_word(given or str(table.get(key, DEFAULT_FAIL_ON[category])), f"lint.{key}")


def lint(
    settings: Settings,
    paths: Sequence[Path] = (),
    *,
    fail_on: str | None = None,
    style_fail_on: str | None = None,
    processes: str | int | None = None,
    cwd: Path | None = None,
    categories: Sequence[str] = CATEGORIES,
    cache: bool = True,
) -> LintReport:
    """Lint `paths` (default: the migrations, policies and checks directories).

    `fail_on` is the level at which a safety finding (squawk, dbops) fails the run,
    `style_fail_on` the same for style (sqlfluff); `categories` leaves out a whole category
    (`("safety",)` skips sqlfluff). sqlfluff's findings per file are cached (`ops.lint.cache`)
    unless `cache` is false or `[tool.dbops.lint] cache = false`."""
    started = time.perf_counter()
    table = lint_settings(settings)
    read_project_config(settings)
    fail_on = _fail_level(fail_on, table, "fail_on", "safety")
    style_fail_on = _fail_level(style_fail_on, table, "style_fail_on", "style")
    files = collect_files(settings, paths, cwd or Path.cwd())

    squawk = start_squawk(
        files if "safety" in categories else [], squawk_config(table), settings.project_root
    )
    t = time.perf_counter()
    findings: list[Finding] = []
    rules: dict[str, RuleInfo] = {}
    cached = 0
    if "style" in categories:
        setting = processes if processes is not None else table.get("processes")
        cache_root = lint_cache_dir() if cache and table.get("cache", True) is not False else None
        findings, rules, cached = cached_sqlfluff(files, settings.project_root, setting, cache_root)
    timings = {"sqlfluff": time.perf_counter() - t}

    t = time.perf_counter()
    texts = {f.display: read_text(f.path) for f in files}
    parsed = {name: parse_sql(text) for name, text in texts.items()}
    if "safety" in categories:
        findings.extend(own_findings(files, texts, parsed))
        rules.update(rule_infos())
        rules.update(safety_rule_infos())
    timings["dbops"] = time.perf_counter() - t

    kinds = {f.display: f.kind for f in files}
    squawk_findings = [
        f
        for f in drop_squawk_false_positives(squawk.collect(), files, parsed)
        if kinds.get(f.path) in ("migration", "rollback") or f.rule == "syntax-error"
    ]
    squawk_findings = enrich_squawk(squawk_findings)
    timings["squawk"] = squawk.elapsed
    findings.extend(squawk_findings)
    for f in squawk_findings:
        rules.setdefault(f.rule, RuleInfo(f.rule, "squawk", f.message, SQUAWK_RULES_URL + f.rule))

    kept, waived = apply_waivers(dedupe(findings, parsed), parsed, categories)
    timings["total"] = time.perf_counter() - started
    return LintReport(
        files=tuple(f.display for f in files),
        findings=tuple(sorted(kept, key=Finding.sort_key)),
        waived=tuple(sorted(waived, key=lambda w: w.finding.sort_key())),
        fail_on=fail_on,
        timings={k: round(v, 3) for k, v in timings.items()},
        rules=rules,
        style_fail_on=style_fail_on,
        cached_files=cached,
    )


def read_project_config(settings: Settings) -> None:
    """Read `[tool.dbops]` as `check` and `retention run` will, with the same parsers.

    A value the runtime would refuse (a duration, a fail-on word, a retention rule) stops
    lint with the runtime's own error, before cron or CI meets it.
    """
    from ops.checks import load_check_config
    from ops.retention import configured_rules, run_settings

    load_check_config(settings, {})
    run_settings(settings.tool)
    configured_rules(settings.tool)


def collect_files(settings: Settings, paths: Sequence[Path], cwd: Path) -> list[LintFile]:
    roots: dict[FileKind, Path] = {
        "migration": settings.migrations_dir,
        "policy": settings.policies_dir,
        "check": settings.checks_dir,
    }
    targets = [cwd / p for p in paths] if paths else [d for d in roots.values() if d.is_dir()]
    found: dict[Path, None] = {}
    for target in targets:
        if not target.exists():
            raise ConfigError(
                f"{target}: no such file or directory", "pass existing SQL files or directories"
            )
        if target.is_dir():
            for path in sorted(target.rglob("*.sql")):
                if not any(part.startswith(".") for part in path.relative_to(target).parts):
                    found[path.resolve()] = None
        else:
            found[target.resolve()] = None
    return [_lint_file(path, roots, settings.project_root, cwd) for path in found]


def _lint_file(path: Path, roots: Mapping[FileKind, Path], project_root: Path, cwd: Path) -> LintFile:
    by_root = next((k for k, root in roots.items() if path.is_relative_to(root)), None)
    by_dir = next((_KIND_BY_DIR_NAME[p.name] for p in path.parents if p.name in _KIND_BY_DIR_NAME), None)
    kind: FileKind = by_root or by_dir or "sql"
    transactional = True
    if kind == "migration":
        kind = "rollback" if path.name.endswith(".rollback.sql") else "migration"
        forward = path.with_name(path.name.removesuffix(".rollback.sql") + ".sql")
        header_file = forward if kind == "rollback" and forward.is_file() else path
        headers = parse_headers(read_text(header_file))
        transactional = headers.get("transactional", "true").strip().lower() != "false"
    for base in (project_root, cwd):
        if path.is_relative_to(base):
            display = path.relative_to(base).as_posix()
            break
    else:
        display = path.as_posix()
    return LintFile(path, display, kind, transactional)


def own_findings(
    files: Sequence[LintFile], texts: Mapping[str, str], parsed: Mapping[str, SqlText]
) -> list[Finding]:
    findings: list[Finding] = []
    for f in files:
        findings.extend(file_findings(f, texts[f.display], parsed[f.display]))
    shown = {f.display for f in files}
    migration_dirs = sorted({f.path.parent for f in files if f.kind in ("migration", "rollback")})
    display = {f.path: f.display for f in files}
    for directory in migration_dirs:
        dir_display = {p: display.get(p, _sibling_display(p, files)) for p in directory.glob("*.sql")}
        findings.extend(f for f in migration_dir_findings(directory, dir_display) if f.path in shown)
    findings.extend(check_id_findings([(f, texts[f.display]) for f in files if f.kind == "check"]))
    return findings


def file_findings(lint_file: LintFile, text: str, parsed: SqlText | None = None) -> list[Finding]:
    """The per-file rules for the file's kind."""
    parsed = parsed or parse_sql(text)
    if parsed.unreadable is not None:
        line, column = parsed.unreadable_line, parsed.unreadable_column
        return [own_finding(lint_file.display, line, "unreadable-sql", str(parsed.unreadable), column)]
    if lint_file.kind in ("migration", "rollback"):
        found = safety_findings(lint_file, parsed)
        if not lint_file.transactional:
            found += non_transactional_findings(lint_file, parsed)
        return found
    if lint_file.kind == "policy":
        return policy_findings(lint_file, parsed)
    if lint_file.kind == "check":
        return check_findings(lint_file, text, parsed)
    return []


def _sibling_display(path: Path, files: Sequence[LintFile]) -> str:
    near = next((f for f in files if f.path.parent == path.parent), None)
    if near is None:
        return path.as_posix()
    return (Path(near.display).parent / path.name).as_posix()


_SQLFLUFF_CODE = re.compile(r"^[a-z]{2}\d{2}$", re.I)
_SYNTAX_RULES = frozenset({*SQLFLUFF_ERROR_CODES, "syntax-error", "unreadable-sql"})
# who says best what is wrong with SQL that does not parse: PostgreSQL's own lexer (dbops),
# then its parser (squawk's libpg_query), then sqlfluff, whose grammar has limits of its own
_SYNTAX_SOURCE_RANK = {"dbops": 0, "squawk": 1, "sqlfluff": 2}


def dedupe(findings: Sequence[Finding], parsed: Mapping[str, SqlText]) -> list[Finding]:
    """One finding per place and meaning: a statement that does not parse is one syntax error
    (PostgreSQL's parser's, else sqlfluff's, else squawk's), not one per source and token;
    exact repeats go too."""
    syntax: dict[tuple[str, int], Finding] = {}
    kept: list[Finding] = []
    seen: set[tuple[str, int, int, str]] = set()
    for f in sorted(findings, key=Finding.sort_key):
        if f.rule in _SYNTAX_RULES:
            place = (f.path, _statement_start(parsed.get(f.path), f.line))
            best = syntax.get(place)
            rank = (_SYNTAX_SOURCE_RANK.get(f.source, 3), f.line, f.column)
            if best is None or rank < (_SYNTAX_SOURCE_RANK.get(best.source, 3), best.line, best.column):
                syntax[place] = f
            continue
        key = (f.path, f.line, f.column, f.rule)
        if key not in seen:
            seen.add(key)
            kept.append(f)
    return kept + list(syntax.values())


def _statement_start(text: SqlText | None, line: int) -> int:
    """The first line of the statement holding `line`; 0 for a file that does not parse at all."""
    if text is None or text.unreadable is not None:
        return 0
    for st in text.statements:
        if st.line <= line <= st.end_line:
            return st.line
    return line


def apply_waivers(
    findings: Sequence[Finding], parsed: Mapping[str, SqlText], categories: Sequence[str] = CATEGORIES
) -> tuple[list[Finding], list[WaivedFinding]]:
    """Honour `-- dbops: ignore RULE reason`; report bare and unused waivers (unused only for
    the categories that ran: a sqlfluff code such as LT01 is style's)."""
    kept: list[Finding] = []
    waived: list[WaivedFinding] = []
    used: set[tuple[str, int]] = set()
    scopes: dict[str, list[tuple[str, str, int, tuple[int, int]]]] = {}
    extra: list[Finding] = []
    for path, text in parsed.items():
        for w in text.waivers:
            if not w.rule or not w.reason:
                extra.append(
                    _own(
                        path,
                        w.line,
                        "waiver-no-reason",
                        f"waiver for {w.rule or '?'} gives no reason: it is not honoured",
                    )
                )
                continue
            scope = waiver_scope(w, text.statements)
            if scope is not None:
                scopes.setdefault(path, []).append((w.rule.lower(), w.reason, w.line, scope))
    for finding in findings:
        match = next(
            (
                s
                for s in scopes.get(finding.path, [])
                if s[0] == finding.rule.lower() and s[3][0] <= finding.line <= s[3][1]
            ),
            None,
        )
        if match is None:
            kept.append(finding)
        else:
            waived.append(WaivedFinding(finding, match[1], match[2]))
            used.add((finding.path, match[2]))
    for path, entries in scopes.items():
        for rule, _, line, _ in entries:
            category = "style" if _SQLFLUFF_CODE.match(rule) else "safety"
            if (path, line) not in used and category in categories:
                extra.append(
                    _own(path, line, "waiver-unused", f"waiver for {rule} waives nothing: remove it")
                )
    return kept + extra, waived


def _own(path: str, line: int, rule: str, message: str) -> Finding:
    return Finding(path, line, 1, rule, OWN_RULES[rule][0], message, "dbops")
