"""The PostgreSQL client programs a backup runs, and the compression it asks them for.

pg_dump must be at least as new as the server it dumps: an older one is refused here,
before anything runs, instead of failing half-way (or, worse, at restore time).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ops import sqlfiles
from ops.db import Conn
from ops.errors import ConfigError

_VERSION = re.compile(r"\)\s*(\d+)(?:\.(\d+))?")
# pg_dump rejects an unsupported method while parsing its options, before it connects
_PROBE_CONNINFO = "host=/nonexistent-dbops-probe connect_timeout=1"
_UNSUPPORTED = "does not support compression"
# a sample this large is enough to tell gzip levels apart, and takes milliseconds
_SAMPLE_BYTES = 1024 * 1024
# gzip 1 output above this fraction of the input: compressing only burns CPU
_INCOMPRESSIBLE = 0.90


@dataclass(frozen=True)
class PgTools:
    """pg_dump and pg_restore of one installation."""

    bin_dir: Path
    version: str
    major: int

    def path(self, program: str) -> str:
        return str(self.bin_dir / program)


@dataclass(frozen=True)
class Compression:
    spec: str  # what pg_dump's --compress gets: zstd, gzip:1, none, ...
    reason: str
    sample: Mapping[str, Any]


def program_version(program: Path) -> tuple[str, int]:
    """('15.18', 15) from `pg_dump (PostgreSQL) 15.18 (Debian ...)`."""
    try:
        out = subprocess.run([str(program), "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ConfigError(
            f"cannot run {program}: {exc}", "point DBOPS_PG_BIN_DIR at a working install"
        ) from exc
    match = _VERSION.search(out)
    if not match:
        raise ConfigError(f"cannot read the version of {program} from {out.strip()!r}", None)
    version = match.group(1) + (f".{match.group(2)}" if match.group(2) else "")
    return version, int(match.group(1))


def candidate_dirs(bin_dir: Path | None) -> list[Path]:
    """An explicit bin dir alone; else the embedded wheel's, then the one of pg_dump on PATH."""
    if bin_dir is not None:
        return [bin_dir]
    from ops import embedded

    found = [embedded.bin_dir()]
    on_path = shutil.which("pg_dump")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    return found


def find_tools(
    server_version: str, server_major: int, bin_dir: Path | None, *, reading_dump: bool = False
) -> PgTools:
    """The first pg_dump/pg_restore pair whose major version is at least the server's."""
    dirs = candidate_dirs(bin_dir)
    too_old: list[str] = []
    for d in dirs:
        if not (d / "pg_dump").is_file() or not (d / "pg_restore").is_file():
            continue
        version, major = program_version(d / "pg_dump")
        if major >= server_major:
            return PgTools(d, version, major)
        too_old.append(f"pg_dump {version} ({d / 'pg_dump'})")
    if too_old:
        what = (
            f"the pg_dump that wrote the backup ({server_version}) and cannot read it"
            if reading_dump
            else f"the server ({server_version}) and cannot dump it"
        )
        raise ConfigError(
            f"{', '.join(too_old)} is older than {what}; nothing was run",
            f"install PostgreSQL {server_major} client programs and point DBOPS_PG_BIN_DIR "
            "(or --pg-bin-dir) at their bin directory",
        )
    raise ConfigError(
        "no pg_dump and pg_restore found in " + ", ".join(str(d) for d in dirs),
        "point DBOPS_PG_BIN_DIR (or --pg-bin-dir) at a PostgreSQL bin directory",
    )


def supports(tools: PgTools, method: str) -> bool:
    """Whether this pg_dump build can compress with `method` (zstd and lz4 are build options)."""
    result = subprocess.run(
        [tools.path("pg_dump"), "--schema-only", "-f", "/dev/null", "--compress", method, _PROBE_CONNINFO],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return _UNSUPPORTED not in result.stderr


def client_env(conninfo: str) -> tuple[str, dict[str, str]]:
    """The conninfo without its password (the password goes in PGPASSWORD, never on a command line)."""
    import os

    parts = conninfo_to_dict(conninfo)
    password = parts.pop("password", None)
    parts["application_name"] = "dbops"
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **parts), env


def largest_tables_query() -> sql.Composed:
    """`backup_largest_tables`, built on `backup_tables`: the largest of the tables pg_dump writes."""
    return sqlfiles.query(__name__, "backup_largest_tables").format(
        backup_tables=sqlfiles.query(__name__, "backup_tables")
    )


def sample_rows(conn: Conn, limit_bytes: int = _SAMPLE_BYTES) -> bytes:
    """Text rows of the largest tables, the kind of bytes pg_dump compresses, up to `limit_bytes`."""
    data = bytearray()
    for schema, table, width in conn.execute(largest_tables_query()).fetchall():
        rows = max(10, (limit_bytes - len(data)) // max(1, int(width)))
        query = sql.SQL("copy (select * from {} limit {}) to stdout").format(
            sql.Identifier(schema, table), sql.Literal(rows)
        )
        with conn.cursor().copy(query) as copy:
            for block in copy:
                data.extend(block)
        if len(data) >= limit_bytes:
            break
    return bytes(data[:limit_bytes])


def choose_compression(tools: PgTools, conn: Conn, requested: str) -> Compression:
    """`requested` as given, or for `auto`: zstd where this pg_dump has it, else gzip at a measured level."""
    if requested != "auto":
        method = requested.split(":", 1)[0]
        if method not in ("none", "gzip") and not supports(tools, method):
            raise ConfigError(
                f"pg_dump {tools.version} ({tools.path('pg_dump')}) cannot compress with {method}",
                "use --compress auto, gzip:N or none",
            )
        return Compression(requested, "requested", {})
    if supports(tools, "zstd"):
        return Compression("zstd", "pg_dump supports zstd: faster and smaller than gzip", {})
    return pick_gzip_level(sample_rows(conn))


def pick_gzip_level(sample: bytes, incompressible: float = _INCOMPRESSIBLE) -> Compression:
    """gzip level 1, or none when the sample shows the data does not compress.

    Level 6 (pg_dump's default) is measured too, for the record: on this project's data it
    costs about 3.5x the CPU of level 1 for a 20-30% smaller dump, and pg_dump is CPU-bound
    on compression, so it is never picked on its own (ask for it with --compress gzip).
    """
    if not sample:
        return Compression("gzip:1", "zstd not in this pg_dump build; no rows to measure: gzip level 1", {})
    measured: dict[str, Any] = {"sample_bytes": len(sample)}
    for level in (1, 6):
        started = time.perf_counter()
        size = len(zlib.compress(sample, level))
        measured[f"gzip{level}_bytes"] = size
        measured[f"gzip{level}_ms"] = round((time.perf_counter() - started) * 1000, 2)
    ratio = measured["gzip1_bytes"] / len(sample)
    if ratio > incompressible:
        return Compression(
            "none", f"the data does not compress (gzip 1 output is {ratio:.0%} of a sample)", measured
        )
    return Compression(
        "gzip:1",
        f"zstd not in this pg_dump build; gzip 1 saves {1 - ratio:.0%} of a sample "
        f"in {measured['gzip1_ms']:.0f} ms (gzip 6: {1 - measured['gzip6_bytes'] / len(sample):.0%} "
        f"in {measured['gzip6_ms']:.0f} ms)",
        measured,
    )
