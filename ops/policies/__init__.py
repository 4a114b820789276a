"""Row-level security from policies/: a managed table's live policies become exactly what its file says."""

from ops.policies._engine import (
    ApplyReport,
    FileApply,
    PolicyDiff,
    apply,
    apply_changed,
    diff,
    reapply_after_rollback,
    withdraw,
)
from ops.policies._files import PolicyFile, PolicySQLError, read_policy_dir
from ops.policies._state import PolicyDifference, create_statement, qualified, read_recorded, read_states

__all__ = [
    "ApplyReport",
    "FileApply",
    "PolicyDiff",
    "PolicyDifference",
    "PolicyFile",
    "PolicySQLError",
    "apply",
    "apply_changed",
    "create_statement",
    "diff",
    "qualified",
    "read_policy_dir",
    "read_recorded",
    "read_states",
    "reapply_after_rollback",
    "withdraw",
]
