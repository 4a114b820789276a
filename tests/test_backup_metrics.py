"""The backup verbs' metrics file: written on every outcome, private, and its values true.

Real runs against the real server through the CLI; the file is read back with
prometheus_client's own parser, so a file it cannot read fails here.
"""

from __future__ import annotations

import re
import stat
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from ops.backup.manifest import read_manifest
from ops.locks import NAMESPACE, JobFamily
from tests.conftest import ROOT, Database
from tests.test_backup import add_rows

Gauges = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


def gauges(path: Path) -> Gauges:
    """Every sample of the file, by name and labels; the file must be private."""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }


def value(found: Gauges, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def run_of(found: Gauges, verb: str) -> tuple[float, float]:
    """(exit code, success) of the verb's last run."""
    return (
        value(found, "dbops_backup_last_run_exit_code", verb=verb),
        value(found, "dbops_backup_last_run_success", verb=verb),
    )


def finished(where: Path) -> list[Path]:
    return sorted(p for p in where.iterdir() if not p.name.startswith("."))


def test_backup_verify_and_prune_write_true_values(db: Database, run_cli: Any, tmp_path: Path) -> None:
    add_rows(db)
    where, metrics = tmp_path / "backups", tmp_path / "backup.prom"
    opts = ("--dir", str(where), "--metrics-file", str(metrics))

    assert run_cli("backup", *opts, url=db.url).exit_code == 0
    after_backup = gauges(metrics)
    assert run_of(after_backup, "backup") == (0, 1)
    assert value(after_backup, "dbops_backup_backups_kept", kind="logical") == 1
    assert value(after_backup, "dbops_backup_newest_verified_timestamp_seconds") == 0  # none proven yet
    assert ("dbops_backup_last_verify_success", frozenset()) not in after_backup

    first = finished(where)[0]
    result = run_cli("backup", "verify", first.name, "--restore", *opts, url=db.url)
    assert result.exit_code == 0, result.output
    found = gauges(metrics)
    manifest = read_manifest(first)
    assert run_of(found, "verify") == (0, 1)
    assert run_of(found, "backup") == (0, 1)  # the other verb's run is carried over
    assert value(found, "dbops_backup_last_verify_success") == 1
    assert value(found, "dbops_backup_newest_verified_size_bytes") == (first / "dump.pgdump").stat().st_size
    assert value(found, "dbops_backup_newest_verified_duration_seconds") == round(manifest.duration_s, 3)
    taken = datetime.fromisoformat(manifest.started_at).timestamp()
    assert value(found, "dbops_backup_newest_verified_timestamp_seconds") == round(taken, 3)
    assert 0 <= value(found, "dbops_backup_newest_verified_age_seconds") < 600
    assert abs(value(found, "dbops_backup_last_run_timestamp_seconds", verb="verify") - time.time()) < 600

    time.sleep(1.1)  # backup ids are UTC seconds
    assert run_cli("backup", *opts, url=db.url).exit_code == 0
    time.sleep(1.1)
    assert run_cli("backup", *opts, url=db.url).exit_code == 0
    assert len(finished(where)) == 3
    result = run_cli("backup", "prune", "--keep-last", "1", *opts)
    assert result.exit_code == 0, result.output
    found = gauges(metrics)
    assert run_of(found, "prune") == (0, 1)
    assert [p.name for p in finished(where)] == [
        first.name,
        finished(where)[-1].name,
    ]  # newest, newest verified
    assert value(found, "dbops_backup_backups_kept", kind="logical") == len(finished(where)) == 2
    assert value(found, "dbops_backup_backups_kept", kind="physical") == 0
    assert value(found, "dbops_backup_last_verify_success") == 1  # carried over from verify
    # no temporary file left; the lock file (0600, not *.prom: the collector skips it) stays
    assert sorted(p.name for p in tmp_path.iterdir()) == [".backup.prom.lock", "backup.prom", "backups"]
    assert stat.S_IMODE((tmp_path / ".backup.prom.lock").stat().st_mode) == 0o600


def test_a_tampered_backup_fails_verify_and_the_file_says_so(
    db: Database, run_cli: Any, tmp_path: Path
) -> None:
    where, metrics = tmp_path / "backups", tmp_path / "backup.prom"
    assert run_cli("backup", "--dir", str(where), "--metrics-file", str(metrics), url=db.url).exit_code == 0
    dump = finished(where)[0] / "dump.pgdump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    # the metrics file given to the group applies to its subcommand
    result = run_cli("backup", "--dir", str(where), "--metrics-file", str(metrics), "verify", "latest")
    assert result.exit_code == 7, result.output
    found = gauges(metrics)
    assert run_of(found, "verify") == (7, 0)
    assert value(found, "dbops_backup_last_verify_success") == 0
    assert run_of(found, "backup") == (0, 1)
    assert value(found, "dbops_backup_newest_verified_timestamp_seconds") == 0

    result = run_cli(
        "backup", "verify", "no-such-backup", "--dir", str(where), "--metrics-file", str(metrics)
    )
    assert result.exit_code == 2
    assert run_of(gauges(metrics), "verify") == (2, 0)


def test_busy_and_refused_runs_write_their_exit_codes(db: Database, run_cli: Any, tmp_path: Path) -> None:
    where, metrics = tmp_path / "backups", tmp_path / "backup.prom"
    with psycopg.connect(db.url, autocommit=True) as other:
        other.execute("select pg_advisory_lock(%s, %s)", (NAMESPACE, int(JobFamily.BACKUP)))
        result = run_cli("backup", "--dir", str(where), "--metrics-file", str(metrics), url=db.url)
    assert result.exit_code == 5, result.output
    found = gauges(metrics)
    assert run_of(found, "backup") == (5, 0)
    assert value(found, "dbops_backup_backups_kept", kind="logical") == 0

    result = run_cli("backup", "prune", "--dir", str(where), "--metrics-file", str(metrics))
    assert result.exit_code == 2  # no policy
    found = gauges(metrics)
    assert run_of(found, "prune") == (2, 0)
    assert run_of(found, "backup") == (5, 0)


def test_the_file_is_found_by_flag_then_environment_then_pyproject(
    db: Database, run_cli: Any, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.dbops]\nbackup_metrics_file = "from-file.prom"\n')
    where = str(tmp_path / "backups")
    project = ("--project", str(tmp_path))
    prune = ("backup", "prune", "--keep-last", "1", "--dir", where)
    assert run_cli(*project, *prune).exit_code == 0
    assert run_of(gauges(tmp_path / "from-file.prom"), "prune") == (0, 1)
    env = {"DBOPS_BACKUP_METRICS_FILE": str(tmp_path / "from-env.prom")}
    assert run_cli(*project, *prune, env=env).exit_code == 0
    assert run_of(gauges(tmp_path / "from-env.prom"), "prune") == (0, 1)
    assert run_cli(*project, *prune, "--metrics-file", str(tmp_path / "flag.prom"), env=env).exit_code == 0
    assert run_of(gauges(tmp_path / "flag.prom"), "prune") == (0, 1)


def test_a_metrics_file_in_a_missing_folder_is_refused_before_the_backup(
    db: Database, run_cli: Any, tmp_path: Path
) -> None:
    where = tmp_path / "backups"
    result = run_cli(
        "backup", "--dir", str(where), "--metrics-file", str(tmp_path / "no" / "b.prom"), url=db.url
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: cannot write the metrics file ")
    assert not where.exists()


def alert_metric_names(readme: str) -> set[str]:
    """The dbops metrics named in README's Prometheus alerting rules (```yaml blocks with `alert:`)."""
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    rules = [b for b in blocks if "alert:" in b]
    assert rules, "README has no alerting rules"
    return {name for block in rules for name in re.findall(r"\b(dbops_[a-z0-9_]+)", block)}


def test_readme_alert_rules_use_metrics_dbops_writes(db: Database, run_cli: Any, tmp_path: Path) -> None:
    where, backup_prom, retention_prom = tmp_path / "backups", tmp_path / "b.prom", tmp_path / "r.prom"
    assert (
        run_cli("backup", "--dir", str(where), "--metrics-file", str(backup_prom), url=db.url).exit_code == 0
    )
    verify = (
        "backup",
        "verify",
        "latest",
        "--restore",
        "--dir",
        str(where),
        "--metrics-file",
        str(backup_prom),
    )
    assert run_cli(*verify, url=db.url).exit_code == 0
    assert run_cli("retention", "run", "--metrics-file", str(retention_prom), url=db.url).exit_code == 0
    written = {name for name, _ in gauges(backup_prom)} | {name for name, _ in gauges(retention_prom)}
    named = alert_metric_names((ROOT / "README.md").read_text())
    assert {"dbops_backup_newest_verified_timestamp_seconds", "dbops_backup_last_verify_success"} <= named
    assert named <= written, (
        f"README's alert rules name metrics dbops does not write: {sorted(named - written)}"
    )


def test_a_physical_backup_is_its_own_verb(db: Database, run_cli: Any, tmp_path: Path) -> None:
    where, metrics = tmp_path / "backups", tmp_path / "backup.prom"
    result = run_cli("backup", "--physical", "--dir", str(where), "--metrics-file", str(metrics), url=db.url)
    assert result.exit_code == 0, result.output
    found = gauges(metrics)
    assert run_of(found, "physical_backup") == (0, 1)
    assert ("dbops_backup_last_run_success", frozenset({("verb", "backup")})) not in found
    assert value(found, "dbops_backup_backups_kept", kind="physical") == 1
    assert value(found, "dbops_backup_backups_kept", kind="logical") == 0


def test_a_file_that_cannot_be_written_is_a_warning_and_the_exit_code_stands(
    run_cli: Any, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.dbops]\n")
    blocked = tmp_path / "backup.prom"
    blocked.mkdir()  # a folder where the file should be: the rename over it fails
    prune = ("--project", str(tmp_path), "backup", "prune", "--dir", str(tmp_path / "backups"))
    env = {"DBOPS_BACKUP_METRICS_FILE": str(blocked)}
    result = run_cli(*prune, "--keep-last", "1", env=env)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"Warning: metrics file {blocked} not written: ")
    refused = run_cli(*prune, env=env)  # no policy: exit 2, and the warning does not replace it
    assert refused.exit_code == 2
    assert "Warning: metrics file" in refused.stderr and "Error: no retention policy" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".backup.prom.lock",
        "backup.prom",
        "pyproject.toml",
    ]


def test_a_damaged_or_foreign_previous_file_is_replaced_not_carried_over(tmp_path: Path) -> None:
    from ops.backup.metrics import write_backup_metrics

    metrics = tmp_path / "backup.prom"
    metrics.write_text("dbops_backup_last_run_success{verb=\n")  # cut off mid-line
    write_backup_metrics(metrics, tmp_path / "backups", "prune", 0, 0.5)
    assert set(gauges(metrics)) >= {("dbops_backup_last_run_success", frozenset({("verb", "prune")}))}
    metrics.write_text(
        'dbops_backup_last_run_success{verb="backup",host="x"} 1\n'  # labels dbops never writes
        'dbops_backup_last_run_success{verb="verify"} 0\n'
        "dbops_retention_last_run_success 1\n"
    )
    write_backup_metrics(metrics, tmp_path / "backups", "prune", 0, 0.5)
    runs = {labels for name, labels in gauges(metrics) if name == "dbops_backup_last_run_success"}
    assert runs == {frozenset({("verb", "verify")}), frozenset({("verb", "prune")})}
    assert not [name for name, _ in gauges(metrics) if name.startswith("dbops_retention_")]
