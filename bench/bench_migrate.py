"""`dbops migrate` empty -> head vs the raw floor (psql) and vs `yoyo apply --batch`;
`dbops --help` start-up vs `yoyo --help`."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from bench.common import ROOT, fresh_database, median_seconds, report, run, server_url
from ops import embedded
from ops.migrations import read_migration_dir

BIN = Path(sys.executable).parent
REPEAT = 5


def _psql_script() -> str:
    """The same SQL as one psql script: a transaction per transactional file, like dbops,
    then the policy files in one transaction (`dbops migrate` applies them too)."""
    parts = ["\\set ON_ERROR_STOP on"]
    for m in read_migration_dir(ROOT / "migrations"):
        body = m.path.read_text()
        parts.append(f"begin;\n{body}\ncommit;" if m.transactional else body)
    policy_files = sorted((ROOT / "policies").glob("*.sql"))
    parts.append("begin;\n" + "\n".join(p.read_text() for p in policy_files) + "\ncommit;")
    return "\n".join(parts) + "\n"


def _yoyo_url(conninfo: str) -> str:
    p = conninfo_to_dict(conninfo)
    user, port = p.get("user", "postgres"), p.get("port", 5432)
    return f"postgresql+psycopg://{user}@/{p['dbname']}?host={p['host']}&port={port}"


def _time_on_fresh(url: str, apply: Callable[[str], None]) -> float:
    """Median over REPEAT runs, each on a new empty database."""
    times = []
    for _ in range(REPEAT):
        with fresh_database(url) as conninfo:
            times.append(median_seconds(lambda c=conninfo: apply(c), 1))
    return sorted(times)[REPEAT // 2]


def main() -> None:
    url = server_url()
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(_psql_script())
        script = f.name
    psql = str(embedded.bin_dir() / "psql")
    dbops = _time_on_fresh(url, lambda c: run([str(BIN / "dbops"), "--database-url", c, "-q", "migrate"]))
    floor = _time_on_fresh(url, lambda c: run([psql, "-q", "-X", "-d", c, "-f", script]))
    yoyo = _time_on_fresh(
        url,
        lambda c: run(
            [
                str(BIN / "yoyo"),
                "apply",
                "--batch",
                "--no-config-file",
                "--database",
                _yoyo_url(c),
                str(ROOT / "migrations"),
            ]
        ),
    )
    report("migrate_vs_psql", dbops / floor, f"dbops {dbops * 1000:.0f} ms, psql {floor * 1000:.0f} ms")
    report("migrate_vs_yoyo", dbops / yoyo, f"yoyo {yoyo * 1000:.0f} ms")
    dbops_help = median_seconds(lambda: run([str(BIN / "dbops"), "--help"]), 10)
    yoyo_help = median_seconds(lambda: run([str(BIN / "yoyo"), "--help"]), 10)
    report(
        "help_vs_yoyo",
        dbops_help / yoyo_help,
        f"dbops {dbops_help * 1000:.0f} ms, yoyo {yoyo_help * 1000:.0f} ms",
    )
