"""Deploying the schema: migrations and the row-level security that sits on them, in one call.

`deploy` is what `dbops migrate` does: pending migrations in order, then every policy file
that is new, edited or no longer matches the live policies. `undeploy` is `dbops rollback`:
the managed tables' policies step aside before the rollback scripts run and what still
applies is put back afterwards. The CLI, the test fixtures, the bench and `make demo` (through
the CLI) all deploy through these two functions.
"""

from __future__ import annotations

import functools
from typing import Unpack

from ops import migrations, policies
from ops.config import Settings
from ops.db import Conn

__all__ = ["deploy", "undeploy"]


def deploy(
    conn: Conn, settings: Settings, *, to: str | None = None, dry_run: bool = False
) -> migrations.RunReport:
    """Apply pending migrations (up to `to`), then re-apply changed policy files."""
    after = functools.partial(policies.apply_changed, settings=settings)
    return migrations.migrate(conn, settings, to=to, dry_run=dry_run, after=after)


def undeploy(
    conn: Conn, settings: Settings, **choice: Unpack[migrations.RollbackChoice]
) -> migrations.RunReport:
    """Roll back applied migrations, newest first, with the policies withdrawn around them."""
    return migrations.rollback(
        conn,
        settings,
        **choice,
        before=functools.partial(policies.withdraw, settings=settings),
        after=functools.partial(policies.reapply_after_rollback, settings=settings),
    )
