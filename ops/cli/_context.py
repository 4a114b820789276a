"""What every command shares: settings, the connection, output, shared options."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ops.config import Settings, load_settings

if TYPE_CHECKING:
    from rich.table import Table as RichTable

F = TypeVar("F", bound=Callable[..., Any])


# Verbs that change data: when they run on the embedded default, they say so once on stderr.
CHANGES_DATA = frozenset(
    {"migrate", "rollback", "mark", "unmark", "policies apply", "evict", "archive", "retention run",
     "sample-data", "restore"}
)  # fmt: skip


@dataclass
class AppContext:
    flags: dict[str, Any]
    needs_target: bool = True  # False for verbs that never talk to a server (lint)
    _settings: Settings | None = field(default=None, repr=False)
    emitted: bool = False  # the result object is out: an error after it adds no second JSON document
    _direct_checked: bool = field(default=False, repr=False)
    _announced: bool = field(default=False, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            settings = load_settings(self.flags, os.environ, Path.cwd())
            if self.needs_target:
                settings.require_target(Path.cwd())
            self._settings = settings
        return self._settings

    @property
    def json(self) -> bool:
        return bool(self.flags.get("json"))

    @property
    def verbosity(self) -> int:
        return int(self.flags.get("verbosity") or 0)

    def conninfo(self) -> str:
        """The server's URL, once checked to reach the server directly (ops.db.check_direct)."""
        from ops.db import connect

        url = self._resolve_url()
        if not self._direct_checked:
            with connect(url) as probe:
                self._check_direct(probe)
        return url

    def _resolve_url(self) -> str:
        from ops.db import resolve_url

        url = resolve_url(self.settings)
        if self.settings.database_url_source == "embedded":
            self._announce_embedded(url)
        return url

    def _announce_embedded(self, url: str) -> None:
        """Once per run, for a verb that changes data: which server and database it changes."""
        ctx = click.get_current_context(silent=True)
        verb = " ".join(ctx.command_path.split()[1:]) if ctx else ""
        if self._announced or verb not in CHANGES_DATA:
            return
        from psycopg.conninfo import conninfo_to_dict

        from ops.embedded import pgdata_dir

        database = conninfo_to_dict(url).get("dbname") or "postgres"
        where = pgdata_dir(self.settings.dbops_home)
        click.echo(f"dbops: target: the embedded server ({where}), database {database}", err=True)
        self._announced = True

    def connect(self) -> Any:
        from ops.db import connect

        conn = connect(self._resolve_url())
        if not self._direct_checked:
            try:
                self._check_direct(conn)
            except BaseException:
                conn.close()
                raise
        return conn

    def _check_direct(self, conn: Any) -> None:
        from ops.db import check_direct

        check_direct(conn, self.settings)
        self._direct_checked = True

    def emit(self, result: Any, text: Callable[[], None]) -> None:
        """JSON of the result object with --json, else the command's human rendering."""
        self.emitted = True
        if self.json:
            click.echo(json.dumps(jsonable(result), indent=None, sort_keys=False))
        elif self.verbosity >= 0:
            text()


pass_app = click.make_pass_decorator(AppContext)


def jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        data = asdict(value)
        for name in dir(type(value)):
            if isinstance(getattr(type(value), name, None), property):
                data[name] = getattr(value, name)
        return jsonable(data)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    title: str | None = None,
    *,
    names: str | None = None,
) -> None:
    """A rich table on a terminal; aligned plain columns when piped.

    The `names` column (default: the first) names what each row is about, a check, rule,
    migration or backup: it is shown whole at any terminal width, and rich wraps the others.
    """
    if sys.stdout.isatty():
        from rich.console import Console

        Console().print(rich_table(columns, rows, title, names=names or columns[0]))
        return
    cells = [list(columns)] + [["" if v is None else printable(str(v)) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    if title:
        click.echo(title)
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with control characters shown as \\xNN: a name from the database (a table, a
    rule) can never move the operator's cursor, retitle the terminal or clear the screen."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def rich_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None, *, names: str
) -> RichTable:
    """The rich Table that `table` prints on a terminal (a name is never cut: `plan_ca…`)."""
    from rich.table import Table
    from rich.text import Text

    # Text, not str: a cell is never read as rich markup (a table named `[/]`)
    cells = [[Text("" if v is None else printable(str(v))) for v in r] for r in rows]
    t = Table(title=title)
    for i, c in enumerate(columns):
        if c == names:
            widest = max([len(c), *(r[i].cell_len for r in cells)])
            t.add_column(c, no_wrap=True, min_width=widest)
        else:
            t.add_column(c, overflow="fold")
    for r in cells:
        t.add_row(*r)
    return t


class Duration(click.ParamType[float]):
    """A duration flag in the one grammar (250ms, 30s, 30m, 12h, 7d, 1w), as seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        from ops.vocabulary import duration_s

        return duration_s(value, param.opts[0] if param and param.opts else "duration")


class FailOnLevel(click.Choice[str]):
    """`error|warning|info|none`, for `check` and `lint` alike; the old words still read."""

    def __init__(self) -> None:
        from ops.vocabulary import FAIL_ON

        super().__init__(FAIL_ON, case_sensitive=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from ops.vocabulary import canonical_word

        return str(super().convert(canonical_word(str(value)), param, ctx))


def fail_on_option(default_help: str) -> Callable[[F], F]:
    return click.option(
        "--fail-on",
        type=FailOnLevel(),
        help=f"Exit 1 on findings at or above this level ({default_help}; warn, note, never also read).",
    )


def dry_run_option(f: F) -> F:
    return click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")(f)


def yes_option(f: F) -> F:
    return click.option(
        "--yes", is_flag=True, help="Do it without asking (required when not on a terminal)."
    )(f)


def confirm(question: str, yes: bool) -> None:
    """Go on if --yes; ask on a terminal; refuse (exit 2) when nobody can answer."""
    from ops.errors import ConfigError

    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(f"{question} needs confirmation", "pass --yes (or --dry-run to only look)")
    if not click.confirm(question, default=False):
        raise ConfigError("not confirmed", "pass --yes to go ahead, --dry-run to only look")
