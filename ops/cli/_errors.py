"""One place that turns errors into `Error: ...`, a hint and the documented exit code."""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import click
import psycopg

from ops.errors import DbopsError, ExitCode, Terminated, connection_lost, exit_code_for

_URL_VARIABLES = ("DATABASE_URL", "DBOPS_DATABASE_URL", "DBOPS_DIRECT_URL")


def _secrets(ctx: click.Context) -> list[str]:
    """Passwords of every URL this run was given (any `--*-url` option of the command or the
    group, and the URL variables), in each form a message may show them."""
    from ops.db import passwords_in

    urls = [os.environ.get(name) for name in _URL_VARIABLES]
    level: click.Context | None = ctx
    while level is not None:
        urls += [v for k, v in level.params.items() if k.endswith("_url") and isinstance(v, str)]
        level = level.parent
    return sorted({p for url in urls for p in passwords_in(url)}, key=len, reverse=True)


def _show(ctx: click.Context, message: str, hint: str | None, code: ExitCode, label: str = "Error") -> None:
    from ops.db import redact

    obj = ctx.find_root().obj
    secrets = _secrets(ctx)
    message, hint = redact(message, secrets=secrets), redact(hint, secrets=secrets) if hint else None
    click.echo(f"{label}: {message}", err=True)
    if hint:
        click.echo(f"Hint: {hint}", err=True)
    if obj is not None and getattr(obj, "json", False) and not getattr(obj, "emitted", False):
        click.echo(json.dumps({"error": message, "hint": hint, "exit_code": int(code)}))
    outcome = code in (ExitCode.BUSY, ExitCode.PARTIAL)  # what a run reports, not a fault to trace
    if obj is not None and getattr(obj, "verbosity", 0) > 0 and not outcome:
        click.echo(redact(traceback.format_exc(), secrets=secrets), err=True)


PIPE_CLOSED = 128 + signal.SIGPIPE  # what a shell reports for a command whose reader left


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit cannot fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@contextmanager
def report_errors(ctx: click.Context) -> Iterator[None]:
    try:
        yield
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except BrokenPipeError:  # `dbops ... | head`: the reader has what it wanted
        _silence_stdout()
        ctx.exit(PIPE_CLOSED)
    except (Exception, KeyboardInterrupt) as exc:  # a defect too: one Error line, a traceback only with -v
        message, hint = _message_and_hint(exc)
        code = exit_code_for(exc)
        _show(ctx, message, hint, code, exc.label if isinstance(exc, DbopsError) else "Error")
        ctx.exit(int(code))


def _message_and_hint(exc: BaseException) -> tuple[str, str | None]:
    from ops.db import pg_error_message

    if isinstance(exc, DbopsError):
        return exc.message, exc.hint
    if isinstance(exc, psycopg.Error) and connection_lost(exc):
        return f"lost the connection: {pg_error_message(exc)}", "check the server, then run the command again"
    if isinstance(exc, psycopg.Error):
        hint = exc.diag.message_hint or "the transaction was rolled back; fix the cause and rerun"
        return pg_error_message(exc), hint
    if isinstance(exc, OSError):  # a full disk, a permission: what was being written is not kept
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}", "free space or fix the permissions, then rerun"
    if isinstance(exc, KeyboardInterrupt):
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        return what, "the current transaction was rolled back; rerun to finish"
    return f"unexpected {type(exc).__name__}: {exc}", "rerun with -v and report the traceback"
