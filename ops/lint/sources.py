"""The two outside linters: sqlfluff (in-process, its parallel runner) and squawk (the binary).

squawk runs once per kind of migration file, in the background while sqlfluff works:
transactional files with `--assume-in-transaction`, non-transactional ones without, and
each kind with the rules turned off that do not apply to it (see `SquawkConfig`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.errors import ConfigError, OperationFailed
from ops.lint.model import Finding, LintFile, RuleInfo
from ops.sarif import Level

SQLFLUFF_ERROR_CODES = ("PRS", "TMP", "LXR")  # cannot parse / template / lex
# sqlfluff's grammar lags PostgreSQL's (schema-qualified ATTACH/DETACH PARTITION, ...): a file it
# cannot parse or lex is its limit, reported as a note; a templating error (TMP) stays an error
SQLFLUFF_PARSER_LIMITS = ("PRS", "LXR")
SQLFLUFF_RULES_URL = "https://docs.sqlfluff.com/en/stable/reference/rules.html"
SQUAWK_RULES_URL = "https://squawkhq.com/docs/"
PARALLEL_MIN_FILES = 40  # below this, starting worker processes costs more than it saves

# Rules turned off, per kind of migration file, each with its reason. `[tool.dbops.lint]`
# replaces a whole table (squawk_off, squawk_off_rollback, ...) when it has one.
DEFAULT_SQUAWK_OFF: dict[str, dict[str, str]] = {
    "squawk_off": {
        "require-lock-timeout": "dbops sets lock_timeout itself before every migration (SET LOCAL, "
        "retried with backoff on a lock timeout)",
        "require-statement-timeout": "dbops bounds lock waits with lock_timeout; a statement_timeout "
        "would cut off long VALIDATE and backfill steps that hold only weak locks",
    },
    "squawk_off_rollback": {
        rule: "a rollback removes exactly what its migration added: dropping is its job"
        for rule in (
            "ban-drop-table",
            "ban-drop-column",
            "ban-drop-constraint",
            "ban-drop-default",
            "ban-drop-not-null",
            "ban-drop-function",
            "ban-drop-schema",
            "ban-drop-extension",
            "ban-drop-type",
            "ban-drop-trigger",
            "renaming-column",
            "renaming-table",
        )
    },
    "squawk_off_transactional": {},
    "squawk_off_non_transactional": {},
}
_SQUAWK_LEVELS: dict[str, Level] = {"error": "error", "warning": "warning", "hint": "note", "info": "note"}


@dataclass(frozen=True)
class SquawkConfig:
    off: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: DEFAULT_SQUAWK_OFF)
    pg_version: str | None = None

    def excluded(self, lint_file: LintFile) -> list[str]:
        tables = ["squawk_off"]
        tables.append("squawk_off_rollback" if lint_file.kind == "rollback" else "")
        tables.append(
            "squawk_off_transactional" if lint_file.transactional else "squawk_off_non_transactional"
        )
        return sorted({rule for t in tables if t for rule in self.off.get(t, {})})


def squawk_config(lint_table: Mapping[str, Any]) -> SquawkConfig:
    off: dict[str, dict[str, str]] = {}
    for key, default in DEFAULT_SQUAWK_OFF.items():
        table = lint_table.get(key, default)
        if not isinstance(table, dict):
            raise ConfigError(f"[tool.dbops.lint] {key} must be a table of rule = reason", "see README, lint")
        for rule, reason in table.items():
            if not isinstance(reason, str) or not reason.strip():
                raise ConfigError(
                    f"[tool.dbops.lint.{key}] {rule} has no reason",
                    'write why the rule is off: rule = "reason"',
                )
        off[key] = dict(table)
    version = lint_table.get("squawk_pg_version")
    return SquawkConfig(off, None if version is None else str(version))


def squawk_binary() -> str:
    beside = Path(sys.executable).parent / "squawk"
    found = str(beside) if beside.is_file() else shutil.which("squawk")
    if not found:
        raise ConfigError("the squawk binary was not found", "pip install squawk-cli (a dbops dependency)")
    return found


class SquawkRun:
    """squawk processes started in the background; `collect` waits and reads their JSON."""

    def __init__(self, procs: list[tuple[subprocess.Popen[bytes], dict[str, LintFile]]]) -> None:
        self.started = time.perf_counter()
        self.elapsed = 0.0
        self._procs = procs
        self._outputs: list[tuple[bytes, bytes]] = [(b"", b"")] * len(procs)
        self._threads = [
            threading.Thread(target=self._wait, args=(i,), daemon=True) for i in range(len(procs))
        ]
        for thread in self._threads:
            thread.start()

    def _wait(self, index: int) -> None:
        self._outputs[index] = self._procs[index][0].communicate()
        self.elapsed = max(self.elapsed, time.perf_counter() - self.started)

    def collect(self) -> list[Finding]:
        for thread in self._threads:
            thread.join()
        findings: list[Finding] = []
        for (proc, by_path), (out, err) in zip(self._procs, self._outputs, strict=True):
            if proc.returncode == 2:
                raise ConfigError(
                    f"squawk refused its arguments: {err.decode(errors='replace').strip()[:300]}",
                    "check that the squawk_off tables of [tool.dbops.lint] name real squawk rules",
                )
            if proc.returncode not in (0, 1) or (proc.returncode == 1 and not out.strip()):
                raise OperationFailed(
                    f"squawk failed (exit {proc.returncode}): {err.decode(errors='replace').strip()[:500]}",
                    "run squawk on the file by hand to see why",
                )
            for item in json.loads(out or b"[]"):
                findings.append(_squawk_finding(item, by_path))
        return findings


def _squawk_finding(item: dict[str, Any], by_path: Mapping[str, LintFile]) -> Finding:
    lint_file = by_path.get(str(item.get("file", "")))
    return Finding(
        path=lint_file.display if lint_file else str(item.get("file")),
        line=int(item.get("line", 0)) + 1,  # squawk's JSON counts lines and columns from 0
        column=int(item.get("column", 0)) + 1,
        rule=str(item.get("rule_name")),
        level=_SQUAWK_LEVELS.get(str(item.get("level", "warning")).lower(), "warning"),
        message=str(item.get("message", "")).rstrip(".") + (f"; {item['help']}" if item.get("help") else ""),
        source="squawk",
    )


def start_squawk(files: Sequence[LintFile], config: SquawkConfig, cwd: Path) -> SquawkRun:
    groups: dict[tuple[bool, tuple[str, ...]], list[LintFile]] = {}
    for f in files:
        if f.kind in ("migration", "rollback", "policy"):  # policies: for squawk's syntax check only
            groups.setdefault((f.transactional, tuple(config.excluded(f))), []).append(f)
    if not groups:
        return SquawkRun([])
    binary = squawk_binary()
    procs = []
    for (transactional, excluded), members in sorted(groups.items()):
        cmd = [binary, "--reporter", "json"]
        cmd.append("--assume-in-transaction" if transactional else "--no-assume-in-transaction")
        if excluded:
            cmd.append("--exclude=" + ",".join(excluded))
        if config.pg_version:
            cmd.append("--pg-version=" + config.pg_version)
        cmd.extend(str(f.path) for f in members)
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append((proc, {str(f.path): f for f in members}))
    return SquawkRun(procs)


def sqlfluff_processes(setting: object, file_count: int) -> int:
    """`auto`: every core once there are enough files to repay the workers' start-up, else 1."""
    if setting in (None, "auto"):
        return (os.cpu_count() or 1) if file_count >= PARALLEL_MIN_FILES else 1
    try:
        count = int(str(setting))
    except ValueError as exc:
        raise ConfigError(f"processes: {setting!r} is not a number", "use an integer or auto") from exc
    return count if count > 0 else max(1, (os.cpu_count() or 1) + count)


SQLFLUFF_DEFAULTS = Path(__file__).with_name("sqlfluff_defaults.cfg")
_SQLFLUFF_SECTIONS = (
    ("pyproject.toml", "[tool.sqlfluff"),
    ("setup.cfg", "[sqlfluff"),
    ("tox.ini", "[sqlfluff"),
)


def has_sqlfluff_config(root: Path) -> bool:
    """Does the repository configure sqlfluff itself (where sqlfluff looks for settings)?"""
    if (root / ".sqlfluff").is_file():
        return True
    for name, section in _SQLFLUFF_SECTIONS:
        path = root / name
        if path.is_file() and section in path.read_text(encoding="utf-8", errors="replace"):
            return True
    return False


_TRACKER_WARNINGS = "ignore::UserWarning:multiprocessing.resource_tracker"


def _quiet_resource_tracker() -> None:
    """Keep multiprocessing's resource tracker from writing "leaked semaphore" to stderr.

    sqlfluff's pool (spawn start method) ends with terminate() and join(); its queue
    semaphores are unlinked by then, but the tracker process sometimes still holds their
    names and reports them at exit, then fails to unlink them ("No such file or directory"):
    noise on every few parallel runs, for nothing left behind. The tracker is a separate
    process started with this interpreter's -W options, so the filter must be in place
    before the pool creates its first semaphore.
    """
    if _TRACKER_WARNINGS not in sys.warnoptions:
        sys.warnoptions.append(_TRACKER_WARNINGS)


def run_sqlfluff(
    files: Sequence[LintFile], project_root: Path, processes: int
) -> tuple[list[Finding], dict[str, RuleInfo]]:
    if not files:
        return [], {}
    from sqlfluff.core import FluffConfig, Linter
    from sqlfluff.core.errors import SQLFluffUserError

    try:
        defaults = None if has_sqlfluff_config(project_root) else str(SQLFLUFF_DEFAULTS)
        config = FluffConfig.from_path(
            str(project_root), extra_config_path=defaults, overrides={"dialect": "postgres"}
        )
        if processes > 1:
            _quiet_resource_tracker()
        result = Linter(config=config).lint_paths(tuple(str(f.path) for f in files), processes=processes)
    except SQLFluffUserError as exc:
        raise ConfigError(f"sqlfluff: {exc}", "fix [tool.sqlfluff] in pyproject.toml") from exc
    by_path = {str(f.path): f for f in files}
    findings: list[Finding] = []
    rules: dict[str, RuleInfo] = {}
    for record in result.as_records():
        lint_file = by_path.get(str(record["filepath"]))
        for v in record["violations"]:
            code = str(v["code"])
            broken = code in SQLFLUFF_ERROR_CODES
            parser_limit = code in SQLFLUFF_PARSER_LIMITS
            message = str(v["description"])
            if parser_limit:
                message = (
                    f"sqlfluff's postgres grammar cannot read this ({message.rstrip('.')}): a limit of the "
                    "style linter, not necessarily an error in the SQL; its style rules skipped the "
                    "statement, the safety rules (squawk, dbops) still read it"
                )
            findings.append(
                Finding(
                    path=lint_file.display if lint_file else str(record["filepath"]),
                    line=int(str(v.get("start_line_no") or 1)),
                    column=int(str(v.get("start_line_pos") or 1)),
                    rule=code,
                    level="note" if parser_limit or v.get("warning") else ("error" if broken else "warning"),
                    message=message,
                    source="sqlfluff",
                )
            )
            if code not in rules:
                name = str(v.get("name") or "")
                rules[code] = RuleInfo(
                    code,
                    "sqlfluff",
                    f"{name}: {v['description']}" if name and not broken else str(v["description"]),
                    None if broken else f"{SQLFLUFF_RULES_URL}#rule-{name or code}",
                )
    return findings, rules
