"""`dbops wal enable | status | receive`: continuous WAL for point-in-time recovery."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import click

from ops.cli._context import AppContext, dry_run_option, pass_app
from ops.cli.backup import _DIR_HELP, _dir
from ops.errors import ConfigError, ExitCode


@click.group("wal")
def wal_group() -> None:
    """The WAL goes into the backup directory's wal/ (see `dbops backup --physical`, `dbops restore`)."""


@wal_group.command("enable")
@click.option(
    "--synchronous",
    is_flag=True,
    help="Commits wait until the receiver has their WAL on disk (RPO 0; writes stall while it is down).",
)
@dry_run_option
@pass_app
def enable_cmd(app: AppContext, synchronous: bool, dry_run: bool) -> None:
    """Set wal_level, summarize_wal, max_wal_senders and create the slot `dbops`.

    The embedded server is changed and restarted when needed; for any other server the
    exact statements are printed and the command exits 2 until they hold.
    """
    from ops.db import embedded_home
    from ops.wal.enable import enable_wal

    result = enable_wal(
        app.conninfo(), embedded_home=embedded_home(app.settings), synchronous=synchronous, dry_run=dry_run
    )

    def text() -> None:
        if result.state != "enabled":
            if not result.changes:
                click.echo("the server's settings are ready for PITR")
            for c in result.changes:
                restart = " (needs a restart)" if c.needs_restart else " (a reload is enough)"
                click.echo(f"{c.statement}  -- now {c.current!r}{restart}")
            if result.state == "dry-run":
                click.echo("dry run: nothing was changed")
            return
        for c in result.changes:
            click.echo(f"set {c.name} = {c.wanted!r} (was {c.current!r})")
        if result.restarted:
            click.echo("restarted the embedded server")
        click.echo(f"replication slot {result.slot!r} {'created' if result.slot_created else 'exists'}")
        click.echo("PITR is on: run `dbops wal receive` (under systemd), then `dbops backup --physical`")

    app.emit(result, text)
    if result.state == "needs-settings":
        restart = any(c.needs_restart for c in result.changes)
        raise ConfigError(
            f"{len(result.changes)} server setting(s) must change before PITR works",
            "run the ALTER SYSTEM statements above as a superuser, "
            + ("restart PostgreSQL, " if restart else "run `select pg_reload_conf()`, ")
            + "then `dbops wal enable` again",
        )


@wal_group.command("status")
@click.option("--max-lag-bytes", type=int, default=16 * 1024 * 1024, show_default=True)
@click.option("--max-lag-seconds", type=float, default=60.0, show_default=True)
@click.option(
    "--max-retained-bytes",
    type=int,
    default=1024**3,
    show_default=True,
    help="WAL the slot holds on the server.",
)
@click.option("--dir", "directory", type=click.Path(file_okay=False), help=_DIR_HELP)
@pass_app
@click.pass_context
def status_cmd(
    ctx: click.Context,
    app: AppContext,
    max_lag_bytes: int,
    max_lag_seconds: float,
    max_retained_bytes: int,
    directory: str | None,
) -> None:
    """The receiver's lag, the newest WAL received, the slot's retained WAL; exit 1 past a threshold."""
    from ops.wal.status import WalThresholds, wal_status

    result = wal_status(
        app.conninfo(),
        _dir(app, directory),
        WalThresholds(max_lag_bytes, max_lag_seconds, max_retained_bytes),
    )

    def text() -> None:
        receiver = (
            f"{result.receiver_state} ({result.receiver_sync_state})"
            if result.receiver_state
            else "not connected"
        )
        click.echo(f"receiver:      {receiver}")
        click.echo(
            f"server LSN:    {result.server_lsn}, flushed by the receiver: {result.flushed_lsn or '-'}"
        )
        lag_s = "-" if result.lag_seconds is None else f"{result.lag_seconds:.1f} s"
        click.echo(
            f"lag:           {result.lag_bytes if result.lag_bytes is not None else '-'} bytes, {lag_s}"
        )
        slot = "missing" if not result.slot_exists else f"{'active' if result.slot_active else 'inactive'}, "
        if result.slot_exists:
            slot += f"{result.slot_wal_status}, retains {result.slot_retained_bytes} bytes"
        click.echo(f"slot:          {slot}")
        click.echo(f"newest WAL:    {result.newest_wal or 'none'} {result.newest_wal_at or ''}".rstrip())
        click.echo(f"WAL folder:    {result.wal_dir}")
        for p in result.problems:
            click.echo(f"PROBLEM: {p}")

    app.emit(result, text)
    if not result.ok:
        ctx.exit(int(ExitCode.FINDINGS))


@wal_group.command("receive")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help=_DIR_HELP)
@click.option(
    "--lag-interval", type=float, default=30.0, show_default=True, help="Seconds between lag lines."
)
@pass_app
def receive_cmd(app: AppContext, directory: str | None, lag_interval: float) -> None:
    """Run pg_receivewal (slot `dbops`, --synchronous) into <backup dir>/wal/ until stopped.

    For systemd (Restart=always): restarts pg_receivewal when it exits, logs the lag, and
    exits 5 when another receiver already writes into the folder. SIGTERM stops it cleanly.
    """
    from ops.wal.receive import receive_wal

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def log(line: str) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        print(f"{stamp} {line}", file=sys.stderr, flush=True)

    summary = receive_wal(app.conninfo(), _dir(app, directory), log=log, stop=stop, lag_interval=lag_interval)
    app.emit(summary, lambda: click.echo(f"stopped after {summary.runs} run(s) of pg_receivewal"))
