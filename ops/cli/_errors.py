"""One place that turns errors into `Error: ...`, a hint and the documented exit code."""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import click
import psycopg

from ops.errors import DbopsError, ExitCode


def _secrets(obj: object) -> list[str]:
    """Passwords of every URL this run was given, in each form a message may show them."""
    from ops.db import passwords_in

    flags = getattr(obj, "flags", {}) or {}
    urls = [flags.get("database_url"), os.environ.get("DATABASE_URL"), os.environ.get("DBOPS_DATABASE_URL")]
    return sorted({p for url in urls for p in passwords_in(url)}, key=len, reverse=True)


def _show(ctx: click.Context, message: str, hint: str | None, code: ExitCode) -> None:
    from ops.db import redact

    obj = ctx.find_root().obj
    secrets = _secrets(obj)
    message, hint = redact(message, secrets=secrets), redact(hint, secrets=secrets) if hint else None
    click.echo(f"Error: {message}", err=True)
    if hint:
        click.echo(f"Hint: {hint}", err=True)
    if obj is not None and getattr(obj, "json", False):
        click.echo(json.dumps({"error": message, "hint": hint, "exit_code": int(code)}))
    if obj is not None and getattr(obj, "verbosity", 0) > 0:
        click.echo(redact(traceback.format_exc(), secrets=secrets), err=True)


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
    except OSError as exc:  # a full disk, a permission: what was being written is not kept
        where = f": {exc.filename}" if exc.filename else ""
        _show(
            ctx,
            f"{exc.strerror or exc}{where}",
            "free space or fix the permissions, then rerun",
            ExitCode.FAILED,
        )
        ctx.exit(int(ExitCode.FAILED))
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except Exception as exc:  # a defect: still one Error line and no traceback without -v
        _show(ctx, f"unexpected {type(exc).__name__}: {exc}", "rerun with -v and report the traceback",
              ExitCode.FAILED)  # fmt: skip
        ctx.exit(int(ExitCode.FAILED))
