"""One place that turns errors into `Error: ...`, a hint and the documented exit code."""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import click
import psycopg

from ops.errors import DbopsError, ExitCode


def _show(ctx: click.Context, message: str, hint: str | None, code: ExitCode) -> None:
    from ops.db import redact

    message, hint = redact(message), redact(hint) if hint else None
    click.echo(f"Error: {message}", err=True)
    if hint:
        click.echo(f"Hint: {hint}", err=True)
    obj = ctx.find_root().obj
    if obj is not None and getattr(obj, "json", False):
        click.echo(json.dumps({"error": message, "hint": hint, "exit_code": int(code)}))
    if obj is not None and getattr(obj, "verbosity", 0) > 0:
        click.echo(traceback.format_exc(), err=True)


@contextmanager
def report_errors(ctx: click.Context) -> Iterator[None]:
    try:
        yield
    except DbopsError as exc:
        _show(ctx, exc.message, exc.hint, exc.exit_code)
        ctx.exit(int(exc.exit_code))
    except psycopg.OperationalError as exc:
        from ops.db import pg_error_message

        _show(
            ctx,
            f"lost the connection: {pg_error_message(exc)}",
            "check the server, then run the command again",
            ExitCode.CONNECT,
        )
        ctx.exit(int(ExitCode.CONNECT))
    except psycopg.Error as exc:
        from ops.db import pg_error_message

        hint = exc.diag.message_hint or "the transaction was rolled back; fix the cause and rerun"
        _show(ctx, pg_error_message(exc), hint, ExitCode.FAILED)
        ctx.exit(int(ExitCode.FAILED))
    except KeyboardInterrupt:
        _show(ctx, "interrupted", "the current transaction was rolled back; rerun to finish", ExitCode.FAILED)
        ctx.exit(int(ExitCode.FAILED))
