"""Named points where a test stops a real dbops process, to kill or resume it exactly there.

For tests only. `DBOPS_FAILPOINTS` lists points, comma-separated: `name` stops at the first
time the process reaches that point, `name=N` at the N-th time. At a listed point the
process writes `failpoint: name` to stderr and stops itself with SIGSTOP, so a test that
reads that line can `kill -9` it there (SIGKILL ends a stopped process) or let it go on
with SIGCONT. Unset, a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter

ENV = "DBOPS_FAILPOINTS"


def _parse(spec: str) -> dict[str, int]:
    points: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, nth = item.partition("=")
        points[name.strip()] = int(nth) if nth.strip() else 1
    return points


_armed = _parse(os.environ.get(ENV, ""))
_hits: Counter[str] = Counter()


def failpoint(name: str) -> None:
    """Stop here if `DBOPS_FAILPOINTS` names this point (and this is its N-th hit)."""
    if name not in _armed:
        return
    _hits[name] += 1
    if _hits[name] != _armed[name]:
        return
    sys.stderr.write(f"failpoint: {name}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGSTOP)
