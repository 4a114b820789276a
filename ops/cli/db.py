"""`dbops db start|stop|status|url`: the embedded server."""

from __future__ import annotations

import click

from ops.cli._context import AppContext, pass_app


@click.group()
def db() -> None:
    """Its data lives in .dbops/ next to pyproject.toml, or in DBOPS_HOME."""


def _show(app: AppContext, result: object) -> None:
    from ops.embedded import EmbeddedStatus

    assert isinstance(result, EmbeddedStatus)

    def text() -> None:
        state = f"running (pid {result.pid})" if result.running else "stopped"
        click.echo(f"embedded PostgreSQL {result.server_version}: {state}")
        click.echo(f"data: {result.pgdata}")
        if result.url:
            click.echo(f"url:  {result.url}")

    app.emit(result, text)


@db.command()
@pass_app
def start(app: AppContext) -> None:
    """Start the embedded server (initialising it on first use)."""
    from ops import embedded

    embedded.ensure_running(app.settings.dbops_home)
    _show(app, embedded.status(app.settings.dbops_home))


@db.command()
@pass_app
def stop(app: AppContext) -> None:
    """Stop the embedded server; its data stays."""
    from ops import embedded

    _show(app, embedded.stop(app.settings.dbops_home))


@db.command()
@pass_app
def status(app: AppContext) -> None:
    """Say whether the embedded server runs, where its data is, and its URL."""
    from ops import embedded

    _show(app, embedded.status(app.settings.dbops_home))


@db.command()
@click.option("--start", is_flag=True, help="Start the server first when it is not running.")
@pass_app
def url(app: AppContext, start: bool) -> None:
    """Print the embedded server's URL, e.g. for psql; starts it only with --start."""
    from ops import embedded
    from ops.errors import ConnectError

    if start:
        value = embedded.ensure_running(app.settings.dbops_home)
    else:
        current = embedded.status(app.settings.dbops_home)
        if not current.running or current.url is None:
            raise ConnectError(
                f"the embedded server is not running ({current.pgdata})",
                "run `dbops db start` (or `dbops db url --start`)",
            )
        value = current.url
    app.emit({"url": value}, lambda: click.echo(value))
