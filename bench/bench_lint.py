"""`dbops lint` over the repository's SQL vs sqlfluff alone on the same files.

Both run as fresh processes (interpreter start and imports included), on the files
`dbops lint` lints by default (migrations/, policies/, checks/), with the project's
[tool.sqlfluff] config; the median of a few runs each. Prints `name: ratio` lines:

- lint_vs_sqlfluff: dbops lint wall time / `sqlfluff lint` wall time;
- lint_parallel_vs_serial: dbops lint with 2 sqlfluff workers / with 1;
- lint_share_<source>: each source's own time / dbops lint's total (squawk runs in the
  background while sqlfluff works, so the shares can add up to more than 1);
- lint_cache_cold / lint_cache_warm / lint_cache_one_changed: dbops lint with its sqlfluff
  cache (in a scratch XDG_CACHE_HOME) emptied first, unchanged since the last run, and with
  one file changed, each / plain `sqlfluff lint` on the same files (the runs above use
  --no-cache).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, report

BIN = Path(sys.executable).parent
RUNS = 3


def _wall(cmd: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    return elapsed, proc.stdout


def main() -> None:
    dirs = [d for d in ("migrations", "policies", "checks") if (ROOT / d).is_dir()]
    files = sorted(str(p.relative_to(ROOT)) for d in dirs for p in (ROOT / d).rglob("*.sql"))
    dbops = [str(BIN / "dbops"), "--json", "lint", "--fail-on", "never"]
    commands = {
        "sqlfluff": [str(BIN / "sqlfluff"), "lint", "--processes", "1", "--nofail", *files],
        "serial": [*dbops, "--processes", "1", "--no-cache"],
        "parallel": [*dbops, "--processes", "2", "--no-cache"],
    }
    # interleaved, so that a change in the machine's load touches every command alike
    walls: dict[str, list[float]] = {name: [] for name in commands}
    outputs: list[str] = []
    for _ in range(RUNS):
        for name, cmd in commands.items():
            seconds, out = _wall(cmd)
            walls[name].append(seconds)
            if name == "serial":
                outputs.append(out)
    sqlfluff_s, serial_s, parallel_s = (statistics.median(walls[n]) for n in commands)
    split = statistics.median(json.loads(o)["timings"]["total"] for o in outputs)
    timings = {
        source: statistics.median(json.loads(o)["timings"][source] for o in outputs)
        for source in ("sqlfluff", "squawk", "dbops")
    }

    inside = ", ".join(f"{k} {v:.2f}s" for k, v in timings.items())
    print(f"# {len(files)} files; inside dbops lint: {inside}, total {split:.2f}s", flush=True)
    detail = f"dbops lint {serial_s:.2f}s, sqlfluff alone {sqlfluff_s:.2f}s"
    report("lint_vs_sqlfluff", serial_s / sqlfluff_s, detail)
    report("lint_parallel_vs_serial", parallel_s / serial_s, f"2 sqlfluff workers {parallel_s:.2f}s")
    for source, seconds in timings.items():
        report(f"lint_share_{source}", seconds / split, f"{seconds:.2f}s of {split:.2f}s")
    _cache(dbops, files, sqlfluff_s)


def _cache(dbops: list[str], files: list[str], sqlfluff_s: float) -> None:
    """Cold, warm and one-file-changed runs against a scratch cache; the changed file is a
    copy of a real one in a scratch checkout of the SQL, so the repository is not touched."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "project"
        work.mkdir()
        shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
        for d in ("migrations", "policies", "checks"):
            if (ROOT / d).is_dir():
                shutil.copytree(ROOT / d, work / d)
        env = {**os.environ, "XDG_CACHE_HOME": str(Path(scratch) / "cache")}
        cmd = [*dbops, "--processes", "1"]
        walls: dict[str, list[float]] = {"cold": [], "warm": [], "one_changed": []}
        changed = work / "policies" / "users.sql"
        for run in range(RUNS):
            shutil.rmtree(Path(scratch) / "cache", ignore_errors=True)
            walls["cold"].append(_wall_in(work, cmd, env))
            walls["warm"].append(_wall_in(work, cmd, env))
            changed.write_text(changed.read_text(encoding="utf-8") + f"-- run {run}\n", encoding="utf-8")
            walls["one_changed"].append(_wall_in(work, cmd, env))
    for name, values in walls.items():
        seconds = statistics.median(values)
        report(
            f"lint_cache_{name}", seconds / sqlfluff_s, f"{seconds:.2f}s vs sqlfluff alone {sqlfluff_s:.2f}s"
        )


def _wall_in(cwd: Path, cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
