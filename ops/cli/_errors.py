"""One place that turns errors into `Error: ...`, a hint and the documented exit code."""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import click
import psycopg

from ops.errors import DbopsError, ExitCode, exit_code_for


def _show(ctx: click.Context, message: str, hint: str | None, code: ExitCode, label: str = "Error") -> None:
    from ops.db import redact

    message, hint = redact(message), redact(hint) if hint else None
    click.echo(f"{label}: {message}", err=True)
    if hint:
        click.echo(f"Hint: {hint}", err=True)
    obj = ctx.find_root().obj
    if obj is not None and getattr(obj, "json", False) and not getattr(obj, "emitted", False):
        click.echo(json.dumps({"error": message, "hint": hint, "exit_code": int(code)}))
    if obj is not None and getattr(obj, "verbosity", 0) > 0:
        click.echo(traceback.format_exc(), err=True)


@contextmanager
def report_errors(ctx: click.Context) -> Iterator[None]:
    try:
        yield
    except (DbopsError, psycopg.Error, KeyboardInterrupt) as exc:
        message, hint = _message_and_hint(exc)
        code = exit_code_for(exc)
        _show(ctx, message, hint, code, exc.label if isinstance(exc, DbopsError) else "Error")
        ctx.exit(int(code))


def _message_and_hint(exc: BaseException) -> tuple[str, str | None]:
    from ops.db import pg_error_message

    if isinstance(exc, DbopsError):
        return exc.message, exc.hint
    if isinstance(exc, psycopg.OperationalError):
        return f"lost the connection: {pg_error_message(exc)}", "check the server, then run the command again"
    if isinstance(exc, psycopg.Error):
        hint = exc.diag.message_hint or "the transaction was rolled back; fix the cause and rerun"
        return pg_error_message(exc), hint
    return "interrupted", "the current transaction was rolled back; rerun to finish"
