"""The backup verbs' metrics file, so that a backup failing night after night cannot go unnoticed.

`dbops backup`, `backup --physical`, `backup verify` and `backup prune` each rewrite one
file (written by `ops.metrics`: atomically, 0600) however they end: success, failure, busy.
It holds two kinds of gauges:

- read from the backup folder at every write: the newest backup proven by a restore
  (`backup verify --restore`), its size and how long it took, and how many backups are
  kept. The manifests are where verifications are recorded, so these survive any run, a
  lost metrics file and a run of another verb alike;
- about runs: each verb's last exit code, success, end time and duration, and the last
  verify's result. A verb writes its own and carries the other verbs' over from the
  previous file, under a lock file beside it so two verbs ending together keep both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Literal

from ops.backup.manifest import Listing, list_backups
from ops.errors import ExitCode, exit_code_for
from ops.metrics import Sample, folder_lock, not_written, read_textfile, require_writable, write_textfile

Verb = Literal["backup", "physical_backup", "verify", "prune"]

HELP = {
    "dbops_backup_last_run_timestamp_seconds": "When the verb's last run ended (unix time).",
    "dbops_backup_last_run_exit_code": (
        "Exit code of the verb's last run (0 done, 1 the restored copy fails its checks, 5 busy, "
        "7 corrupt, ...)."
    ),
    "dbops_backup_last_run_success": "1 when the verb's last run exited 0, else 0.",
    "dbops_backup_last_run_duration_seconds": "Wall time of the verb's last run.",
    "dbops_backup_last_verify_success": (
        "1 when the last `dbops backup verify` passed, else 0 (corrupt, checks failed, or any error)."
    ),
    "dbops_backup_newest_verified_timestamp_seconds": (
        "When the newest backup proven by `backup verify --restore` was taken (unix time; 0: none)."
    ),
    "dbops_backup_newest_verified_age_seconds": "Age of the newest verified backup when this was written.",
    "dbops_backup_newest_verified_size_bytes": "Size of the newest verified backup.",
    "dbops_backup_newest_verified_duration_seconds": "How long taking the newest verified backup took.",
    "dbops_backup_backups_kept": "Finished backups in the backup directory (after a prune: those it kept).",
}
RUN_METRICS = tuple(name for name in HELP if name.startswith("dbops_backup_last_run_"))
VERIFY_METRIC = "dbops_backup_last_verify_success"


def folder_samples(listing: Listing, now: float) -> list[Sample]:
    """What the backup folder says now: the newest verified backup, and the count kept per kind."""
    samples = [
        Sample("dbops_backup_backups_kept", sum(1 for b in listing.backups if b.manifest.kind == kind),
               {"kind": kind})
        for kind in ("logical", "physical")
    ]  # fmt: skip
    verified = [b for b in listing.backups if b.manifest.verified]
    if not verified:
        return [*samples, Sample("dbops_backup_newest_verified_timestamp_seconds", 0)]
    newest = verified[-1].manifest  # the listing is oldest first
    taken = datetime.fromisoformat(newest.started_at).timestamp()
    return [
        *samples,
        Sample("dbops_backup_newest_verified_timestamp_seconds", round(taken, 3)),
        Sample("dbops_backup_newest_verified_age_seconds", round(max(now - taken, 0.0), 3)),
        Sample("dbops_backup_newest_verified_size_bytes", newest.size),
        Sample("dbops_backup_newest_verified_duration_seconds", round(newest.duration_s, 3)),
    ]


def run_samples(
    previous: list[Sample], verb: Verb, exit_code: int, duration_s: float, ended_at: float
) -> list[Sample]:
    """This run's gauges, and the other verbs' (and the last verify's) from the previous file."""
    others = [
        s
        for s in previous
        if s.name in RUN_METRICS and set(s.labels) == {"verb"} and s.labels["verb"] != verb
    ]
    if verb != "verify":
        others += [s for s in previous if s.name == VERIFY_METRIC and not s.labels]
    label = {"verb": verb}
    mine = [
        Sample("dbops_backup_last_run_timestamp_seconds", round(ended_at, 3), label),
        Sample("dbops_backup_last_run_exit_code", exit_code, label),
        Sample("dbops_backup_last_run_success", 1 if exit_code == 0 else 0, label),
        Sample("dbops_backup_last_run_duration_seconds", round(duration_s, 3), label),
    ]
    if verb == "verify":
        mine.append(Sample(VERIFY_METRIC, 1 if exit_code == 0 else 0))
    return others + mine


def write_backup_metrics(path: Path, backup_dir: Path, verb: Verb, exit_code: int, duration_s: float) -> None:
    with folder_lock(path):
        now = time.time()
        samples = run_samples(read_textfile(path), verb, exit_code, duration_s, now)
        write_textfile(path, [*samples, *folder_samples(list_backups(backup_dir), now)], HELP)


@contextmanager
def recorded_run(
    path: Path | None, backup_dir: Path, verb: Verb, *, warn: Callable[[str], None]
) -> Iterator[None]:
    """Run a verb's body, then write the metrics file whatever its outcome.

    A file that cannot be written is a warning: the verb's own exit code stands.
    """
    if path is None:
        yield
        return
    require_writable(path)
    started = time.monotonic()
    code = int(ExitCode.OK)
    try:
        yield
    except BaseException as exc:
        code = int(exit_code_for(exc))
        raise
    finally:
        try:
            write_backup_metrics(path, backup_dir, verb, code, time.monotonic() - started)
        except OSError as exc:
            warn(not_written(path, exc))
