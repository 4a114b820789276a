"""Logical backups: dump with a checksummed manifest, list, verify by restoring, prune, restore."""

from ops.backup.dump import BackupRequest, BackupResult, run_backup
from ops.backup.manifest import Manifest, find_backup, list_backups, read_manifest
from ops.backup.pruning import Candidate, PruneDecision, PrunePolicy, PruneResult, plan_prune, prune
from ops.backup.restore import RestoreResult, VerifyResult, restore_backup, verify_backup
from ops.backup.tools import PgTools, path_setting

__all__ = [
    "BackupRequest",
    "BackupResult",
    "Candidate",
    "Manifest",
    "PgTools",
    "PruneDecision",
    "PrunePolicy",
    "PruneResult",
    "RestoreResult",
    "VerifyResult",
    "find_backup",
    "list_backups",
    "path_setting",
    "plan_prune",
    "prune",
    "read_manifest",
    "restore_backup",
    "run_backup",
    "verify_backup",
]
