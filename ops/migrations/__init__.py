"""Versioned migrations: the files, the history tables (yoyo's, plus checksums; `unlock`), the engine
that applies and rolls back, the statement runner with lock retries, `verify` on a scratch database."""

from ops.migrations.engine import (
    MigrationSQLError,
    MigrationStatus,
    RollbackChoice,
    RunReport,
    StatusReport,
    StepReport,
    apply_file,
    mark,
    migrate,
    plan_rollback,
    rollback,
    rollback_file,
    status,
    status_of,
    unmark,
)
from ops.migrations.files import (
    MigrationFile,
    find,
    new_migration,
    normalize_sql,
    read_migration,
    read_migration_dir,
    split_statements,
)
from ops.migrations.history import UnlockReport, unlock
from ops.migrations.runner import SQLFileError, run_statements, set_lock_timeout, with_lock_retries
from ops.migrations.verification import VerifyReport, VerifyStep, scratch_database, verify
from ops.sqltext import Statement

__all__ = [
    "MigrationFile",
    "MigrationSQLError",
    "MigrationStatus",
    "RollbackChoice",
    "RunReport",
    "SQLFileError",
    "Statement",
    "StatusReport",
    "StepReport",
    "UnlockReport",
    "VerifyReport",
    "VerifyStep",
    "apply_file",
    "find",
    "mark",
    "migrate",
    "new_migration",
    "normalize_sql",
    "plan_rollback",
    "read_migration",
    "read_migration_dir",
    "rollback",
    "rollback_file",
    "run_statements",
    "scratch_database",
    "set_lock_timeout",
    "split_statements",
    "status",
    "status_of",
    "unlock",
    "unmark",
    "verify",
    "with_lock_retries",
]
