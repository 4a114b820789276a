"""Backup verbs: backup, backup list, backup verify, backup prune, restore."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ops.cli._context import AppContext, confirm, dry_run_option, pass_app, table, yes_option
from ops.errors import ConfigError, Corruption, ExitCode, Findings

if TYPE_CHECKING:
    from ops.backup.manifest import DumpFormat
    from ops.backup.metrics import Verb

_DIR_HELP = "Backup directory (default: DBOPS_BACKUP_DIR, backup_dir in [tool.dbops], else backups/)."
_BIN_HELP = "Directory of pg_dump/pg_restore (default: DBOPS_PG_BIN_DIR, the embedded server's, PATH)."


def _dir(app: AppContext, flag: str | None) -> Path:
    from ops.config import path_setting

    found = path_setting(app.settings, "backup_dir", flag, os.environ, "backups")
    assert found is not None
    return found


def _bin_dir(app: AppContext, flag: str | None) -> Path | None:
    from ops.config import path_setting

    return path_setting(app.settings, "pg_bin_dir", flag, os.environ, None)


_metrics_file = click.option(
    "--metrics-file", type=click.Path(dir_okay=False), metavar="F",
    help="Write Prometheus text metrics to F on every outcome, failures included (default: "
    "DBOPS_BACKUP_METRICS_FILE, backup_metrics_file in [tool.dbops], else none).",
)  # fmt: skip


def _recorded(verb: Verb) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Run the command, then write the backup metrics file (when one is set) however it ended."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(command)
        def run(
            ctx: click.Context, app: AppContext, *args: Any, metrics_file: str | None, **kwargs: Any
        ) -> None:
            from ops.backup.metrics import recorded_run
            from ops.config import path_setting

            flag = metrics_file or ctx.meta.get("metrics_file")
            ctx.meta["metrics_file"] = flag  # `backup --metrics-file F verify ...` (meta is shared)
            if ctx.invoked_subcommand is not None:  # the group, before its subcommand runs
                command(ctx, app, *args, **kwargs)
                return
            path = path_setting(app.settings, "backup_metrics_file", flag, os.environ, None)
            backup_dir = _dir(app, kwargs.get("directory") or ctx.meta.get("backup_dir"))
            name: Verb = "physical_backup" if kwargs.get("physical") else verb
            warn = functools.partial(click.echo, err=True)
            with recorded_run(path, backup_dir, name, warn=lambda text: warn(f"Warning: {text}")):
                command(ctx, app, *args, **kwargs)

        return run

    return decorate


def _short(stamp: str | None) -> str:
    return stamp[:19].replace("T", " ") if stamp else ""


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


@contextmanager
def _progress() -> Iterator[Callable[[int, int, str], None]]:
    """pg_dump's tables as one step (ops.progress: a bar on a terminal, nothing when piped)."""
    from ops import progress

    with progress.step("pg_dump") as dumping:
        yield lambda done, total, table_name: dumping.show(done, total, f"dumping {table_name}")


@click.group("backup", invoke_without_command=True)
@click.option("--dir", "directory", type=click.Path(file_okay=False), help=_DIR_HELP)
@click.option(
    "--format", "dump_format", type=click.Choice(["custom", "directory"]), default="custom", show_default=True
)
@click.option(
    "--jobs", type=int, default=1, show_default=True, help="Parallel dump (needs --format directory)."
)
@click.option(
    "--compress",
    default="auto",
    show_default=True,
    help="auto (zstd if this pg_dump has it, else a measured gzip level), or pg_dump's gzip:N, zstd, none.",
)
@click.option("--pg-bin-dir", type=click.Path(file_okay=False), help=_BIN_HELP)
@click.option("--physical", is_flag=True, help="A base backup (pg_basebackup) for point-in-time recovery.")
@click.option(
    "--incremental", is_flag=True, help="With --physical: only what changed since the newest verified one."
)
@_metrics_file
@pass_app
@click.pass_context
@_recorded("backup")
def backup_group(
    ctx: click.Context,
    app: AppContext,
    directory: str | None,
    dump_format: DumpFormat,
    jobs: int,
    compress: str,
    pg_bin_dir: str | None,
    physical: bool,
    incremental: bool,
) -> None:
    """The dump goes into <backup dir>/<UTC timestamp>_<database>/ with a manifest.

    The folder appears only once the dump is complete, non-empty and checksummed. See the
    subcommands to list, verify (by restoring) and prune backups.
    """
    ctx.meta["backup_dir"] = directory
    ctx.meta["pg_bin_dir"] = pg_bin_dir
    if ctx.invoked_subcommand is not None:
        return
    if incremental and not physical:
        raise ConfigError("--incremental needs --physical", "run `dbops backup --physical --incremental`")
    if physical:
        _physical_backup(app, _dir(app, directory), incremental)
        return
    from ops.backup import BackupRequest, run_backup

    request = BackupRequest(
        backup_dir=_dir(app, directory),
        dump_format=dump_format,
        jobs=jobs,
        compress=compress,
        bin_dir=_bin_dir(app, pg_bin_dir),
        lock_wait=app.settings.lock_wait,
    )
    with _progress() as progress:
        result = run_backup(app.conninfo(), request, progress)

    def text() -> None:
        m = result.manifest
        rows = sum(m.row_counts.values())
        click.echo(
            f"backup {result.id}: {len(m.row_counts)} tables, {rows} rows, {_size(m.size)} "
            f"({m.dump_format}, {m.compression}), {m.toc_entries} TOC entries, {m.duration_s:.1f} s"
        )
        click.echo(f"  in {result.path}")
        for name in result.reclaimed:
            click.echo(f"  removed {name}, left by a backup run that ended")
        click.echo(f"  prove it: dbops backup verify {result.id} --restore")

    app.emit(result, text)


def _physical_backup(app: AppContext, backup_dir: Path, incremental: bool) -> None:
    from ops.backup.physical import PhysicalRequest, run_physical_backup

    result = run_physical_backup(
        app.conninfo(), PhysicalRequest(backup_dir, incremental, app.settings.lock_wait)
    )

    def text() -> None:
        m = result.manifest
        info = m.physical
        assert info is not None
        kind = f"incremental to {info.parent}" if info.incremental else "full"
        click.echo(
            f"backup {result.id}: physical, {kind}, LSN {info.start_lsn}-{info.end_lsn} "
            f"(timeline {info.timeline}), {m.duration_s:.1f} s, verified by pg_verifybackup"
        )
        click.echo(f"  in {result.path}")
        click.echo(
            f"  restorable from {info.earliest_restorable} (with `dbops wal receive` running: onwards)"
        )

    app.emit(result, text)


@backup_group.command("list")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help=_DIR_HELP)
@pass_app
@click.pass_context
def list_cmd(ctx: click.Context, app: AppContext, directory: str | None) -> None:
    """List finished backups, oldest first, with their last verification."""
    from ops.backup.manifest import list_backups
    from ops.backup.physical import with_restorable

    where = _dir(app, directory or ctx.parent.meta.get("backup_dir") if ctx.parent else directory)
    listing = with_restorable(list_backups(where), where)

    def text() -> None:
        rows = []
        for b in listing.backups:
            m = b.manifest
            last = m.verifications[-1] if m.verifications else None
            state = "never" if last is None else ("restored" if last.restore else "checksums")
            state = state if last is None or last.ok else f"FAILED ({state})"
            info, window = m.physical, listing.restorable.get(b.id)
            kind = "logical" if info is None else ("incremental" if info.incremental else "full")
            lsns = f"{info.start_lsn}-{info.end_lsn}" if info else ""
            rows.append(
                (
                    b.id,
                    kind,
                    info.parent if info and info.parent else "",
                    lsns,
                    _short(window.earliest) if window else "",
                    _short(window.latest) if window else "",
                    m.database,
                    m.dump_format,
                    _size(m.size),
                    m.migration_head or "",
                    state,
                )
            )
        table(
            [
                "backup", "kind", "parent", "LSN range", "restorable from", "until",
                "database", "format", "size", "head", "verified",
            ],
            rows,
        )  # fmt: skip
        click.echo(f"{len(listing.backups)} backup(s) in {where}")
        for name in listing.in_progress:
            click.echo(f"in progress (or left by a killed run): {name}")
        for name in listing.unreadable:
            click.echo(f"not a dbops backup (no readable manifest.json): {name}")

    app.emit(listing, text)


@backup_group.command("verify")
@click.argument("backup_id")
@click.option("--restore", is_flag=True, help="Also restore into a scratch database and compare row counts.")
@click.option("--jobs", type=int, default=1, show_default=True, help="Parallel restore (directory format).")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help=_DIR_HELP)
@click.option("--pg-bin-dir", type=click.Path(file_okay=False), help=_BIN_HELP)
@_metrics_file
@pass_app
@click.pass_context
@_recorded("verify")
def verify_cmd(
    ctx: click.Context,
    app: AppContext,
    backup_id: str,
    restore: bool,
    jobs: int,
    directory: str | None,
    pg_bin_dir: str | None,
) -> None:
    """Check every file's SHA-256 and the archive's table of contents; --restore proves it.

    Exit 7 when anything differs from the manifest; with --restore, exit 1 when the restored
    copy fails a check (7 on corruption). The outcome is recorded in the manifest.
    """
    from ops.backup.manifest import find_backup
    from ops.backup.physical_verify import verify_physical
    from ops.backup.restore import verify_backup

    parent = ctx.parent.meta if ctx.parent else {}
    backup_dir = _dir(app, directory or parent.get("backup_dir"))
    backup = find_backup(backup_dir, backup_id)
    physical = backup.manifest.kind == "physical"
    if physical:
        result = verify_physical(backup, backup_dir, settings=app.settings, restore=restore)
    else:
        result = verify_backup(
            backup,
            conninfo=app.conninfo() if restore else None,
            settings=app.settings,
            restore=restore,
            bin_dir=_bin_dir(app, pg_bin_dir or parent.get("pg_bin_dir")),
            jobs=jobs,
        )

    def text() -> None:
        files = len(backup.manifest.files)
        if result.ok and physical:
            what = f"{result.tables_compared} chain link(s) pass pg_verifybackup and join; {result.checks}"
            click.echo(f"backup {result.id}: OK ({what}, {result.duration_s:.1f} s)")
        elif result.ok:
            what = f"{files} file(s) match their SHA-256, {backup.manifest.toc_entries} TOC entries"
            if result.restore:
                what += (
                    f"; restored into a scratch database: {result.tables_compared} tables' row counts match"
                )
                what += f"; checks: {result.checks}"
            click.echo(f"backup {result.id}: OK ({what}, {result.duration_s:.1f} s)")
        else:
            click.echo(f"backup {result.id}: CORRUPT")
            for problem in result.problems:
                click.echo(f"  {problem}")
        if result.recorded != "yes":
            click.echo(f"note: verification not recorded in the manifest ({result.recorded})")

    app.emit(result, text)
    if not result.ok:
        raise Corruption(
            f"backup {result.id} does not match its manifest: {result.problems[0]}",
            "do not rely on it: take a new backup with `dbops backup`",
        )
    if result.checks_exit_code:
        failed = Corruption if result.checks_exit_code == ExitCode.CORRUPTION else Findings
        raise failed(
            f"the restored copy of {result.id} fails its checks: {result.checks}",
            "run `dbops check` on the source database to see each finding",
        )


@backup_group.command("prune")
@click.option("--keep-last", type=int, default=0, help="Logical: keep the newest N backups.")
@click.option(
    "--keep-daily", type=int, default=0, help="Logical: keep the newest backup of each of the newest D days."
)
@click.option(
    "--keep-weekly",
    type=int,
    default=0,
    help="Logical: keep the newest backup of each of the newest W weeks.",
)
@click.option(
    "--keep-window", metavar="AGE", help="Physical: every moment of the last AGE (7d, 36h) stays restorable."
)
@click.option("--keep-min", type=int, default=1, show_default=True, help="Physical: keep at least N chains.")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help=_DIR_HELP)
@dry_run_option
@_metrics_file
@pass_app
@click.pass_context
@_recorded("prune")
def prune_cmd(
    ctx: click.Context,
    app: AppContext,
    keep_last: int,
    keep_daily: int,
    keep_weekly: int,
    keep_window: str | None,
    keep_min: int,
    directory: str | None,
    dry_run: bool,
) -> None:
    """Delete the backups the policy does not keep; never the newest verified one.

    --keep-last/--keep-daily/--keep-weekly prune logical backups; --keep-window/--keep-min
    prune physical chains and the WAL only they needed.
    """
    from ops.backup import PrunePolicy, prune

    parent = ctx.parent.meta if ctx.parent else {}
    backup_dir = _dir(app, directory or parent.get("backup_dir"))
    if keep_window is not None:
        _prune_physical(app, backup_dir, keep_window, keep_min, dry_run)
        if not (keep_last or keep_daily or keep_weekly):
            return
    result = prune(backup_dir, PrunePolicy(keep_last, keep_daily, keep_weekly), dry_run=dry_run)

    def text() -> None:
        for d in result.decisions:
            if d.keep:
                click.echo(f"keep    {d.id} ({', '.join(d.reasons)})")
            else:
                click.echo(f"{'would delete' if dry_run else 'deleted'} {d.id}")
        for name in result.reclaimed:
            click.echo(f"{'would remove' if dry_run else 'removed'} {name} (left by a run that ended)")
        for name in result.in_progress:
            click.echo(f"left alone (in progress): {name}")
        gone = len(result.to_delete)
        click.echo(
            f"dry run: {gone} backup(s) would be deleted; nothing was changed"
            if dry_run
            else f"{gone} backup(s) deleted, {len(result.kept)} kept"
        )

    app.emit(result, text)


def _prune_physical(
    app: AppContext, backup_dir: Path, keep_window: str, keep_min: int, dry_run: bool
) -> None:
    from ops.backup.physical_pruning import WindowPolicy, prune_window
    from ops.vocabulary import parse_duration

    result = prune_window(
        backup_dir, WindowPolicy(parse_duration(keep_window, "--keep-window"), keep_min), dry_run=dry_run
    )

    def text() -> None:
        verb = "would delete" if dry_run else "deleted"
        for c in result.chains:
            chain = " + ".join(c.ids)
            click.echo(f"keep    {chain} ({', '.join(c.reasons)})" if c.keep else f"{verb} {chain}")
        if result.wal_removed:
            first, last = result.wal_removed[0], result.wal_removed[-1]
            click.echo(f"{verb} {len(result.wal_removed)} WAL segment(s) {first}..{last}")
        click.echo(
            f"WAL kept from {result.wal_kept_from or 'nothing'}; window starts {result.window_start[:19]}"
        )
        if dry_run:
            click.echo("dry run: nothing was changed")

    app.emit(result, text)


@click.command("restore")
@click.argument("backup_id")
@click.option("--target-url", help="Logical backups: the database to restore into (empty, or --clean).")
@click.option("--to-time", metavar="T", help="Physical: recover up to this time (ISO; UTC without a zone).")
@click.option("--to-lsn", metavar="L", help="Physical: recover up to this WAL position.")
@click.option("--latest", is_flag=True, help="Physical: recover every WAL received.")
@click.option(
    "--target-dir", type=click.Path(file_okay=False), help="Physical: a new or empty directory for the copy."
)
@click.option("--start", is_flag=True, help="Physical: start the copy on a socket in DIR and print its URL.")
@click.option(
    "--clean", is_flag=True, help="Drop the objects the backup holds before restoring them (needs --yes)."
)
@click.option(
    "--jobs", type=int, default=1, show_default=True, help="Parallel restore (not one transaction)."
)
@click.option("--no-owner", is_flag=True, help="Do not restore object owners.")
@click.option("--no-acl", is_flag=True, help="Do not restore grants.")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help=_DIR_HELP)
@click.option("--pg-bin-dir", type=click.Path(file_okay=False), help=_BIN_HELP)
@dry_run_option
@yes_option
@pass_app
def restore_cmd(
    app: AppContext,
    /,
    backup_id: str,
    target_url: str | None,
    clean: bool,
    dry_run: bool,
    yes: bool,
    **opts: Any,
) -> None:
    """A logical backup goes into an empty database (--target-url), a physical one to a point
    in time into an empty directory (--target-dir with --to-time, --to-lsn or --latest).

    Logical: checksums are verified first; the restore runs in one transaction (unless --jobs)
    and stops at the first error. Physical: the chain is combined, WAL from the backup
    folder's wal/ is replayed to the target and the copy is promoted; --start starts it.
    """
    from ops.backup.manifest import find_backup

    backup_dir = _dir(app, opts["directory"])
    backup = find_backup(backup_dir, backup_id)
    if backup.manifest.kind == "physical":
        _restore_physical(app, backup, backup_dir, dry_run, opts)
        return
    if target_url is None:
        raise ConfigError(
            f"backup {backup.id} is a logical backup: it restores into a database",
            "pass --target-url URL (--target-dir and --to-time are for physical backups)",
        )
    from ops.backup.restore import restore_backup

    if clean and not dry_run:
        confirm(f"Replace the objects of backup {backup_id} in the target database?", yes)
    result = restore_backup(
        backup,
        target_url,
        clean=clean,
        dry_run=dry_run,
        bin_dir=_bin_dir(app, opts["pg_bin_dir"]),
        jobs=opts["jobs"],
        no_owner=opts["no_owner"],
        no_acl=opts["no_acl"],
        lock_wait=app.settings.lock_wait,
    )

    def text() -> None:
        if result.dry_run:
            click.echo(f"dry run: would run {' '.join(result.command)}")
            click.echo("nothing was changed")
            return
        click.echo(
            f"restored {result.id} into {result.target} in {result.duration_s:.1f} s: "
            f"{result.tables_compared} tables' row counts match; "
            f"migration head {result.migration_head or 'none'}"
        )

    app.emit(result, text)


def _restore_physical(
    app: AppContext, backup: Any, backup_dir: Path, dry_run: bool, opts: dict[str, Any]
) -> None:
    from ops.backup.pitr_restore import parse_target, restore_to_point

    target = parse_target(opts["to_time"], opts["to_lsn"], opts["latest"])
    if not opts["target_dir"]:
        raise ConfigError(
            f"backup {backup.id} is a physical backup: it restores into a directory",
            "pass --target-dir DIR (a new or empty directory)",
        )
    result = restore_to_point(
        backup, backup_dir, target, Path(opts["target_dir"]), start=opts["start"], dry_run=dry_run
    )

    def text() -> None:
        chain = " + ".join(result.chain)
        if dry_run:
            click.echo(
                f"dry run: would combine {chain} into {result.data_dir} and recover to {result.target}"
            )
            click.echo("nothing was changed")
            return
        click.echo(f"restored {chain} into {result.data_dir} ({result.wal_segments} WAL segment(s) staged)")
        if result.started:
            click.echo(
                f"recovered to {result.recovered_to or 'the backup'} (LSN {result.recovered_lsn}) "
                f"in {result.duration_s:.1f} s; the copy runs as pid {result.pid}"
            )
            click.echo(f"url: {result.url}")
            click.echo(f"stop it: pg_ctl -D {result.data_dir} stop")
        else:
            click.echo(f"recovers to {result.target} when started: pg_ctl -D {result.data_dir} start")

    app.emit(result, text)
