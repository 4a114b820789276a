"""`[tool.dbops.checks]`: schemas, timeouts, thresholds and waivers for `dbops check`.

Precedence as everywhere: flag > env `DBOPS_CHECK_*` > file > default.

    [tool.dbops.checks]
    schemas = ["public", "app"]          # default: every non-system schema
    statement_timeout = "10s"
    fail_on = "error"

    [tool.dbops.checks.params]           # thresholds the SQL reads as current_setting('dbops.NAME')
    plan_cache_backlog_max = 10000

    [tool.dbops.checks.waivers]
    "security_definer_executable_by_anon:app.login(user_name text)" = { reason = "...", expires = 2027-06-30 }
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ops.config import Settings
from ops.errors import ConfigError
from ops.vocabulary import duration_ms
from ops.vocabulary import fail_on as fail_on_word

DEFAULT_PARAMS: dict[str, Any] = {
    "api_roles": ["anon", "authenticated"],
    "plan_cache_backlog_max": 10000,
    "bloat_min_bytes": 100 * 1024 * 1024,
    "bloat_ratio": 0.5,
    "sequence_used_max": 0.75,
    "xid_age_max": 1_000_000_000,
    # columns the server fills in: no API role may choose them (api_role_writes_server_owned_column)
    "server_owned_columns": ["id", "created_at", "updated_at", "detected_at", "last_updated", "archived_at"],
    "unused_index_min_table_scans": 10000,
    "replication_slot_retained_min_bytes": 1024 * 1024 * 1024,
    "sensitive_column_pattern": (
        r"(^|_)(password|passwd|pwd|pass|secret|token|api_?key|access_key|private_key|ssn"
        r"|social_security|credit_card|card_number|cvv|iban)(_|$)"
    ),
}


@dataclass(frozen=True)
class Waiver:
    id: str
    reason: str
    expires: date | None = None


@dataclass(frozen=True)
class CheckConfig:
    schemas: tuple[str, ...] | None = None  # None: every non-system schema
    statement_timeout_ms: int = 10_000
    deep_statement_timeout_ms: int = 600_000
    fail_on: str = "error"
    allow_unknown: bool = False
    params: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    waivers: tuple[Waiver, ...] = ()


def _waivers(table: Any) -> tuple[Waiver, ...]:
    if not isinstance(table, dict):
        raise ConfigError("[tool.dbops.checks.waivers] must be a table", "see README, dbops check")
    out = []
    for finding_id, spec in table.items():
        if ":" not in finding_id:
            raise ConfigError(
                f"waiver {finding_id!r} is not a finding id",
                "write it as CHECK:OBJECT, as `dbops check` prints it",
            )
        if not isinstance(spec, dict) or not str(spec.get("reason", "")).strip():
            raise ConfigError(
                f"waiver {finding_id!r} has no reason", 'write { reason = "why it is acceptable" }'
            )
        expires = spec.get("expires")
        if expires is not None and not isinstance(expires, date):
            try:
                expires = date.fromisoformat(str(expires))
            except ValueError as exc:
                raise ConfigError(
                    f"waiver {finding_id!r}: expires {expires!r} is not a date", "write expires = 2027-06-30"
                ) from exc
        out.append(Waiver(finding_id, str(spec["reason"]).strip(), expires))
    return tuple(out)


def load_check_config(
    settings: Settings,
    env: Mapping[str, str],
    *,
    schemas: Sequence[str] = (),
    fail_on: str | None = None,
    allow_unknown: bool = False,
    statement_timeout: str | None = None,
) -> CheckConfig:
    file = settings.tool.get("checks", {})
    if not isinstance(file, dict):
        raise ConfigError("[tool.dbops.checks] must be a table", "see README, dbops check")
    if schemas:
        chosen: tuple[str, ...] | None = tuple(schemas)
    elif env.get("DBOPS_CHECK_SCHEMAS"):
        chosen = tuple(s.strip() for s in env["DBOPS_CHECK_SCHEMAS"].split(",") if s.strip())
    elif "schemas" in file:
        chosen = tuple(str(s) for s in file["schemas"])
    else:
        chosen = None
    timeout = (
        statement_timeout or env.get("DBOPS_CHECK_STATEMENT_TIMEOUT") or file.get("statement_timeout", "10s")
    )
    deep_timeout = env.get("DBOPS_CHECK_DEEP_STATEMENT_TIMEOUT") or file.get(
        "deep_statement_timeout", "10min"
    )
    params = dict(DEFAULT_PARAMS)
    extra = file.get("params", {})
    if not isinstance(extra, dict):
        raise ConfigError("[tool.dbops.checks.params] must be a table", "see README, dbops check")
    for key, value in extra.items():
        _check_param(key, value)
    params.update(extra)
    return CheckConfig(
        schemas=chosen,
        statement_timeout_ms=duration_ms(timeout, "statement_timeout"),
        deep_statement_timeout_ms=duration_ms(deep_timeout, "deep_statement_timeout"),
        fail_on=fail_on_word(
            fail_on or env.get("DBOPS_CHECK_FAIL_ON") or str(file.get("fail_on", "error")), "checks.fail_on"
        ),
        allow_unknown=allow_unknown,
        params=params,
        waivers=_waivers(file.get("waivers", {})),
    )


_PARAM_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _check_param(key: str, value: Any) -> None:
    """A threshold reaches the SQL as the setting `dbops.<key>`: a plain name and a scalar (or a list)."""
    where = f"[tool.dbops.checks.params] {key!r}"
    if not _PARAM_NAME.match(key):
        raise ConfigError(
            f"{where}: not a parameter name (lowercase letters, digits, underscores)",
            "use a name from README, dbops check (e.g. bloat_ratio)",
        )
    scalars = str | int | float | bool
    if not isinstance(value, scalars) and not (
        isinstance(value, list) and all(isinstance(v, scalars) for v in value)
    ):
        raise ConfigError(
            f"{where}: expected a number, a string or a list of them, got {value!r}",
            'write it like bloat_ratio = 0.5 or api_roles = ["anon"]',
        )
