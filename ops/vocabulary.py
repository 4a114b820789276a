"""The words every command reads alike: durations, timestamps, severities and fail-on levels.

One definition each, imported by the runtime and by `dbops lint`, for flags and for
`[tool.dbops]` values alike:

- a duration is a number and a unit: `250ms`, `30s`, `30m`, `12h`, `7d`, `1w` (long forms
  such as `90 days` or `2min` too); a bare number is seconds;
- a timestamp is ISO 8601 with or without a zone (UTC when it has none), `now`, `now-7d`,
  or a duration read as that long ago;
- a severity is `info`, `warning` or `error`; a fail-on level is a severity or `none`.
  Older words stay accepted: `warn` (check), `note` and `never` (lint).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from ops.errors import ConfigError

DURATION_HINT = "write it like 250ms, 30s, 30m, 12h, 7d or 1w"
TIMESTAMP_HINT = "write it like 2026-01-31T12:00:00Z, 2026-01-31 12:00 or now-7d"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_UNIT_SECONDS: dict[str, float] = {
    "ms": 0.001, "msec": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "": 1, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
MAX_DURATION_S = 100 * 366 * 86400  # beyond it an age means nothing (and a timedelta overflows)
MAX_TIMEOUT_MS = 2_147_483_647  # PostgreSQL's timeouts are int milliseconds (about 24.8 days)
_NOW_MINUS = re.compile(r"^\s*now\s*(?:-\s*(.+?))?\s*$")

Severity = Literal["info", "warning", "error"]
FailOn = Literal["info", "warning", "error", "none"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")  # ascending
FAIL_ON: tuple[FailOn, ...] = ("error", "warning", "info", "none")  # as help lists them
_ALIASES = {"warn": "warning", "note": "info", "never": "none"}


def canonical_word(word: str) -> str:
    """The one spelling of a severity or fail-on word (`warn` -> `warning`, ...); others as given."""
    text = word.strip().lower()
    return _ALIASES.get(text, text)


def parse_duration(value: object, name: str) -> timedelta:
    """A duration from a flag or a config value (a bare number is seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).lower())
        if not match or match.group(2) not in _UNIT_SECONDS:
            raise ConfigError(f"{name}: cannot read {value!r} as a duration", DURATION_HINT)
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not 0 <= seconds <= MAX_DURATION_S:  # also false for nan
        raise ConfigError(f"{name}: {value!r} is out of range (0 to 100 years)", DURATION_HINT)
    return timedelta(seconds=seconds)


def duration_ms(value: object, name: str) -> int:
    """A duration for one of PostgreSQL's timeouts: whole milliseconds that fit its int."""
    ms = round(parse_duration(value, name) / timedelta(milliseconds=1))
    if ms > MAX_TIMEOUT_MS:
        raise ConfigError(f"{name}: {value!r} is out of range (0 to 24 days)", DURATION_HINT)
    return ms


def duration_s(value: object, name: str) -> float:
    return parse_duration(value, name).total_seconds()


def parse_timestamp(value: str, name: str, *, now: datetime | None = None) -> datetime:
    """An aware datetime: ISO 8601 (UTC when it has no zone), `now`, `now-7d`, or an age (`7d`)."""
    now = now or datetime.now(UTC)
    text = value.strip().lower()
    relative = _NOW_MINUS.match(text)
    try:
        if relative:
            return now - (parse_duration(relative.group(1), name) if relative.group(1) else timedelta())
        if _DURATION.match(text):
            return now - parse_duration(text, name)
    except ConfigError as exc:
        raise ConfigError(f"{name}: cannot read {value!r} as a time", TIMESTAMP_HINT) from exc
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ConfigError(f"{name}: cannot read {value!r} as a time", TIMESTAMP_HINT) from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def severity_word(word: str) -> Severity | None:
    """`info`, `warning` or `error` for any accepted spelling (`warn`, `note`), else None."""
    canonical = _ALIASES.get(word.strip().lower(), word.strip().lower())
    return canonical if canonical in SEVERITIES else None


def fail_on(word: str, name: str) -> FailOn:
    """`error`, `warning`, `info` or `none` (also `warn`, `note`, `never`)."""
    canonical = _ALIASES.get(word.strip().lower(), word.strip().lower())
    if canonical not in FAIL_ON:
        raise ConfigError(f"{name}: {word!r} is not a fail-on level", f"use one of {', '.join(FAIL_ON)}")
    return canonical


def severity_rank(word: str) -> int:
    """info 1, warning 2, error 3, none 4 (any accepted spelling)."""
    canonical = canonical_word(word)
    return {"info": 1, "warning": 2, "error": 3, "none": 4}[canonical]


def reaches(found: str, threshold: str) -> bool:
    """Does a finding of severity `found` reach the fail-on level `threshold` (`none`: never)?"""
    return severity_rank(threshold) <= 3 and severity_rank(found) >= severity_rank(threshold)
