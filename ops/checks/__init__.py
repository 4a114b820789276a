"""The check library (checks/*.sql and the Python-backed checks), its configuration and the runner."""

from ops.checks.collection import load_library
from ops.checks.config import DEFAULT_PARAMS, CheckConfig, Waiver, load_check_config
from ops.checks.library import CATEGORIES, SEVERITIES, CheckDef, check_from_file
from ops.checks.runner import CheckReport, CheckResult, Finding, WaiverNote, run_checks, select_checks

__all__ = [
    "CATEGORIES",
    "DEFAULT_PARAMS",
    "SEVERITIES",
    "CheckConfig",
    "CheckDef",
    "CheckReport",
    "CheckResult",
    "Finding",
    "Waiver",
    "WaiverNote",
    "check_from_file",
    "load_check_config",
    "load_library",
    "run_checks",
    "select_checks",
]
