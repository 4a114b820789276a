"""sqlfluff's findings per file, cached by what decides them.

sqlfluff is nearly all of `dbops lint`'s time; its findings for a file depend only on the
file's text, the sqlfluff configuration that applies to it (pyproject.toml and any
`.sqlfluff` / `setup.cfg` / `tox.ini` / `.sqlfluffignore` from the project root down to the
file's directory) and the versions of sqlfluff, dbops and Python. The key hashes all of
them, so any change misses. Entries live under `$XDG_CACHE_HOME/dbops/lint` (default
`~/.cache/dbops/lint`; `DBOPS_LINT_CACHE_DIR` overrides), one small JSON file each, written
atomically with private modes. A broken entry is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ops import __version__
from ops.lint.model import Finding, LintFile, RuleInfo

_CONFIG_FILES = (".sqlfluff", "setup.cfg", "tox.ini", ".sqlfluffignore", "pyproject.toml")
_FORMAT = "1"


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    if environ.get("DBOPS_LINT_CACHE_DIR"):
        return Path(environ["DBOPS_LINT_CACHE_DIR"])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dbops" / "lint"


def _tool_versions() -> str:
    return f"{_FORMAT}|dbops {__version__}|sqlfluff {version('sqlfluff')}|python {sys.version_info[:3]}"


def file_key(lint_file: LintFile, project_root: Path, configs: dict[Path, bytes]) -> str:
    """The cache key of one file: its bytes, its config files' bytes, the tool versions."""
    h = hashlib.sha256(_tool_versions().encode())
    h.update(lint_file.path.read_bytes())
    directory = lint_file.path.parent
    chain = [directory, *directory.parents]
    for d in reversed(chain):
        if not (d == project_root or d.is_relative_to(project_root)):
            continue
        for name in _CONFIG_FILES:
            path = d / name
            if path not in configs:
                configs[path] = path.read_bytes() if path.is_file() else b""
            if configs[path]:
                h.update(f"\0{path.relative_to(project_root)}\0".encode())
                h.update(configs[path])
    return h.hexdigest()


def _entry(root: Path, key: str) -> Path:
    return root / key[:2] / f"{key}.json"


def load(root: Path, key: str, lint_file: LintFile) -> tuple[list[Finding], dict[str, RuleInfo]] | None:
    try:
        data = json.loads(_entry(root, key).read_text(encoding="utf-8"))
        findings = [Finding(path=lint_file.display, source="sqlfluff", **f) for f in data["findings"]]
        rules = {r["id"]: RuleInfo(**r) for r in data["rules"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return findings, rules


def store(root: Path, key: str, findings: Sequence[Finding], rules: Mapping[str, RuleInfo]) -> None:
    """Write one entry atomically (a temporary file renamed into place); failures are ignored:
    the cache only saves time."""
    data: dict[str, Any] = {
        "findings": [{k: v for k, v in asdict(f).items() if k not in ("path", "source")} for f in findings],
        "rules": [asdict(rules[f.rule]) for f in findings if f.rule in rules],
    }
    target = _entry(root, key)
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except OSError:
        return


def cached_sqlfluff(
    files: Sequence[LintFile], project_root: Path, processes: object, root: Path | None
) -> tuple[list[Finding], dict[str, RuleInfo], int]:
    """sqlfluff's findings for `files`, from the cache under `root` where it has them
    (`root` None: no cache); returns (findings, rules, number of files served from cache)."""
    from ops.lint.sources import run_sqlfluff, sqlfluff_processes

    if root is None:
        found, found_rules = run_sqlfluff(files, project_root, sqlfluff_processes(processes, len(files)))
        return found, found_rules, 0
    configs: dict[Path, bytes] = {}
    keys = {f.display: file_key(f, project_root, configs) for f in files}
    findings: list[Finding] = []
    rules: dict[str, RuleInfo] = {}
    misses: list[LintFile] = []
    for f in files:
        hit = load(root, keys[f.display], f)
        if hit is None:
            misses.append(f)
        else:
            findings += hit[0]
            rules.update(hit[1])
    if misses:
        fresh, fresh_rules = run_sqlfluff(misses, project_root, sqlfluff_processes(processes, len(misses)))
        rules.update(fresh_rules)
        for f in misses:
            store(root, keys[f.display], [x for x in fresh if x.path == f.display], fresh_rules)
        findings += fresh
    return findings, rules, len(files) - len(misses)
