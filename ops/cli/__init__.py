"""The `dbops` command: a thin layer over the library.

Commands load lazily (each module imports its library code when run), so `dbops --help`
starts without importing psycopg, yoyo or rich. Library errors become one `Error:` line,
a hint and the documented exit code, in one place: `DbopsGroup.invoke`.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from typing import Any

import click

# name -> (module, attribute, summary). The summary is the command's one help line: here so
# that `dbops --help` imports nothing; `dbops X --help` starts with it (see get_command).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "db": ("ops.cli.db", "db", "Start, stop or locate the embedded PostgreSQL server."),
    "migrate": ("ops.cli.migrate", "migrate_cmd", "Apply pending migrations, then changed policies."),
    "rollback": ("ops.cli.migrate", "rollback_cmd", "Roll back applied migrations (needs --yes)."),
    "status": ("ops.cli.migrate", "status_cmd", "List migrations: applied, pending, edited, missing."),
    "new": ("ops.cli.migrate", "new_cmd", "Create the next numbered migration and its rollback."),
    "mark": ("ops.cli.migrate", "mark_cmd", "Record migrations as applied without running them."),
    "unmark": ("ops.cli.migrate", "unmark_cmd", "Forget applied migrations without rolling back."),
    "verify": ("ops.cli.migrate", "verify_cmd", "Apply, roll back, re-apply each migration on a scratch DB."),
    "evict": ("ops.cli.retention", "evict_cmd", "Delete expired rows (ttl rules) in short batches."),
    "archive": ("ops.cli.retention", "archive_cmd", "Move old rows to archive.<table>, or restore them."),
    "retention": ("ops.cli.retention", "retention_group", "Cron: `retention run` runs every retention rule."),
    "unlock": ("ops.cli.migrate", "unlock_cmd", "Show who holds dbops locks; clear stale yoyo lock rows."),
    "check": ("ops.cli.checks", "check_cmd", "Run the integrity, security and performance checks."),
    "policies": ("ops.cli.policies", "policies", "Apply row-level security from policies/, or diff it."),
    "lint": ("ops.cli.lint", "lint_cmd", "Lint SQL: sqlfluff style, squawk migration safety, dbops' rules."),
    "sample-data": ("ops.cli.sample", "sample_data_cmd", "Load realistic sample rows (COPY)."),
    "backup": ("ops.cli.backup", "backup_group", "Back up the database; list, verify by restoring, prune."),
    "restore": ("ops.cli.backup", "restore_cmd", "Restore a backup: into a database, or to a point in time."),
    "wal": (
        "ops.cli.wal",
        "wal_group",
        "Continuous WAL for point-in-time recovery: enable, status, receive.",
    ),
}


# Global options (as the root command declares them) that may also follow the verb:
# `dbops lint --json` reads as `dbops --json lint`. None of the verbs declares these names.
_GLOBAL_WITH_VALUE = frozenset(
    {"--database-url", "--direct-url", "--project", "--migrations-dir", "--policies-dir", "--checks-dir",
     "--lock-wait", "--lock-timeout"}
)  # fmt: skip
_GLOBAL_FLAG = re.compile(r"^(?:--json|--verbose|--quiet|-[vq]+)$")


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options written after the verb in front of it; `--` ends the search."""
    i = 0
    while i < len(args) and args[i].startswith("-"):  # options already before the verb
        i += 2 if args[i] in _GLOBAL_WITH_VALUE else 1
    head, moved, rest = args[:i], [], []
    j = i + 1
    rest = args[i:j]
    while j < len(args):
        arg = args[j]
        if arg == "--":
            rest += args[j:]
            break
        if arg.split("=", 1)[0] in _GLOBAL_WITH_VALUE:
            width = 1 if "=" in arg else 2
            moved += args[j : j + width]
            j += width
            continue
        (moved if _GLOBAL_FLAG.match(arg) else rest).append(arg)
        j += 1
    return head + moved + rest


class DbopsGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, summary = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        if not (command.help or "").startswith(summary):
            # one summary per command: `dbops --help` lists it, `dbops X --help` starts with it,
            # and the command's docstring adds only the details
            details = inspect.cleandoc(command.help or "")
            command.help = f"{summary}\n\n{details}" if details else summary
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][2]) for name in self.list_commands(ctx)])

    def invoke(self, ctx: click.Context) -> Any:
        from ops.cli._errors import report_errors

        with report_errors(ctx):
            return super().invoke(ctx)


@click.group(cls=DbopsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="exammentor-dbops", prog_name="dbops")
@click.option(
    "--database-url", envvar=None, help="Server to use (default: DATABASE_URL, PG*, else embedded)."
)
@click.option(
    "--direct-url",
    envvar=None,
    help="A URL straight to the server (no pooler) for dbops, when DATABASE_URL is the application's "
    "pooled one (default: DBOPS_DIRECT_URL).",
)
@click.option(
    "--project",
    type=click.Path(file_okay=False),
    help="The project folder (default: DBOPS_PROJECT, else the nearest pyproject.toml with [tool.dbops]).",
)
@click.option("--migrations-dir", type=click.Path(file_okay=False), help="Default: migrations/.")
@click.option("--policies-dir", type=click.Path(file_okay=False), help="Default: policies/.")
@click.option("--checks-dir", type=click.Path(file_okay=False), help="Default: checks/.")
@click.option("--json", "json_output", is_flag=True, help="Print results as JSON.")
@click.option("-v", "--verbose", count=True, help="More output; -v shows tracebacks.")
@click.option("-q", "--quiet", count=True, help="Less output.")
@click.option(
    "--lock-wait",
    metavar="DURATION",
    help="Wait this long for another run's lock, e.g. 30s or 5m (migrate: 60s, jobs: 0).",
)
@click.option("--lock-timeout", metavar="DURATION", help="lock_timeout for DDL, e.g. 5s (default).")
@click.pass_context
def cli(
    ctx: click.Context,
    database_url: str | None,
    direct_url: str | None,
    project: str | None,
    migrations_dir: str | None,
    policies_dir: str | None,
    checks_dir: str | None,
    json_output: bool,
    verbose: int,
    quiet: int,
    lock_wait: str | None,
    lock_timeout: str | None,
) -> None:
    """dbops: migrations, row-level security, checks, retention and backups for PostgreSQL.

    Global options go before or after the command: `dbops --json status`, `dbops status --json`.
    """
    from ops.cli._context import AppContext

    ctx.obj = AppContext(
        flags={
            "database_url": database_url,
            "direct_url": direct_url,
            "project": project,
            "migrations_dir": migrations_dir,
            "policies_dir": policies_dir,
            "checks_dir": checks_dir,
            "json": json_output,
            "verbosity": verbose - quiet,
            "lock_wait": lock_wait,
            "lock_timeout": lock_timeout,
        },
        needs_target=ctx.invoked_subcommand != "lint",
    )
    from ops.cli._progress import reporter_for

    reporter = reporter_for(json_output, verbose - quiet)
    if reporter is not None:
        from ops.progress import reporting

        ctx.with_resource(reporting(reporter))


def _end_on_sigterm(signum: int, frame: object) -> None:
    # like Ctrl-C: cleanup blocks run (work folders, scratch databases), transactions roll
    # back, and the run ends as an interrupted one (an Error line, exit 4, in metrics too)
    from ops.errors import Terminated

    raise Terminated


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _end_on_sigterm)
    cli.main(prog_name="dbops")
    sys.exit(0)
