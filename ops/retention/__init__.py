"""Retention: ttl eviction and archiving in short batches, rules from [tool.dbops.retention], the cron run."""

from ops.retention.batches import (
    MAX_LOCK_RETRIES,
    BatchReport,
    Listener,
    RuleResult,
    RunResult,
    apply_rules,
    restore_rule,
)
from ops.retention.cron import render_metrics, retention_run
from ops.retention.rules import (
    DEFAULT_RULES,
    Rule,
    RunSettings,
    configured_rules,
    run_settings,
    select_rules,
)

__all__ = [
    "DEFAULT_RULES",
    "MAX_LOCK_RETRIES",
    "BatchReport",
    "Listener",
    "Rule",
    "RuleResult",
    "RunResult",
    "RunSettings",
    "apply_rules",
    "configured_rules",
    "render_metrics",
    "restore_rule",
    "retention_run",
    "run_settings",
    "select_rules",
]
