"""Catalog snapshots: the schema of a database as comparable rows."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ops import sqlfiles
from ops.db import Conn

Snapshot = dict[tuple[str, str], str]


@dataclass(frozen=True)
class Difference:
    kind: str
    identity: str
    before: str | None  # None: absent
    after: str | None

    def describe(self, before_label: str = "expected", after_label: str = "found") -> str:
        if self.before is None:
            return f"{self.kind} {self.identity}: not {before_label}, {after_label}: {self.after}"
        if self.after is None:
            return f"{self.kind} {self.identity}: {before_label} {self.before}, not {after_label}"
        return f"{self.kind} {self.identity}: {before_label} {self.before}; {after_label} {self.after}"


def snapshot(conn: Conn) -> Snapshot:
    rows = conn.execute(sqlfiles.query(__name__, "catalog_snapshot")).fetchall()
    return {(kind, identity): definition for kind, identity, definition in rows}


def diff(before: Snapshot, after: Snapshot) -> list[Difference]:
    keys = sorted(set(before) | set(after))
    return [
        Difference(k[0], k[1], before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)
    ]


def definition_diff(before: str, after: str, before_label: str, after_label: str) -> str:
    """The differing part of two definitions as a unified diff: by line for multi-line text
    (functions, views), by word (and ACL entry) for one-line ones, so equal prefixes never hide the change."""

    def parts(text: str) -> list[str]:
        return text.splitlines() if "\n" in text.strip() else re.split(r"[ ,]", text)

    lines = difflib.unified_diff(parts(before), parts(after), before_label, after_label, n=1, lineterm="")
    return "\n".join(lines)
