"""`dbops lint`: sqlfluff, squawk and dbops' own rules, one report; needs no database."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ops.cli._context import AppContext, FailOnLevel, fail_on_option, pass_app
from ops.errors import ExitCode
from ops.lint import CATEGORIES


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif", "github"]),
    help="Report format (default text; json with the global --json).",
)
@fail_on_option("safety findings, squawk and dbops; default: warning, or fail_on in [tool.dbops.lint]")
@click.option(
    "--style-fail-on",
    type=FailOnLevel(),
    help="Exit 1 on style findings (sqlfluff) at or above this level "
    "(default: none, or style_fail_on in [tool.dbops.lint]).",
)
@click.option(
    "--category",
    "categories",
    type=click.Choice(CATEGORIES),
    multiple=True,
    help="Only this category (repeatable): safety skips sqlfluff, style skips squawk and dbops' rules.",
)
@click.option("--show-waived", is_flag=True, help="List waived findings with their reasons (text format).")
@click.option("--processes", metavar="N|auto", help="sqlfluff worker processes (default: auto).")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Run sqlfluff on every file instead of reusing its cached findings for unchanged files.",
)
@pass_app
@click.pass_context
def lint_cmd(
    ctx: click.Context,
    app: AppContext,
    paths: tuple[Path, ...],
    fmt: str | None,
    fail_on: str | None,
    style_fail_on: str | None,
    categories: tuple[str, ...],
    show_waived: bool,
    processes: str | None,
    no_cache: bool,
) -> None:
    """PATHS are files or directories (default: the migrations, policies and checks
    directories). A finding is waived by a comment on or before its statement:
    `-- dbops: ignore RULE reason` (`ignore-file` for the whole file).
    """
    from ops.lint import github_lines, lint, sarif, text_lines

    report = lint(
        app.settings,
        paths,
        fail_on=fail_on,
        style_fail_on=style_fail_on,
        processes=processes,
        categories=categories or CATEGORIES,
        cache=not no_cache,
    )
    fmt = fmt or ("json" if app.json else "text")
    if fmt == "sarif":
        click.echo(json.dumps(sarif(report), indent=2))
    elif fmt == "github":
        click.echo("\n".join(github_lines(report)))
    elif fmt == "json":
        app.flags["json"] = True
        app.emit(report, lambda: None)
    else:
        app.emit(report, lambda: click.echo("\n".join(text_lines(report, show_waived=show_waived))))
    if report.failed:
        ctx.exit(int(ExitCode.FINDINGS))
