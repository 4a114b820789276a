"""`dbops lint` over the repository's SQL vs sqlfluff alone on the same files.

Both run as fresh processes (interpreter start and imports included), on the files
`dbops lint` lints by default (migrations/, policies/, checks/), with the project's
[tool.sqlfluff] config; the median of a few runs each. Prints `name: ratio` lines:

- lint_vs_sqlfluff: dbops lint wall time / `sqlfluff lint` wall time;
- lint_parallel_vs_serial: dbops lint with 2 sqlfluff workers / with 1;
- lint_share_<source>: each source's own time / dbops lint's total (squawk runs in the
  background while sqlfluff works, so the shares can add up to more than 1).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
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
        "serial": [*dbops, "--processes", "1"],
        "parallel": [*dbops, "--processes", "2"],
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


if __name__ == "__main__":
    main()
