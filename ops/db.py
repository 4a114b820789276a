"""The one connection factory: every connection dbops opens comes from `connect()`."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ops.config import Settings
from ops.errors import ConnectError

Conn = psycopg.Connection[Any]  # the connection type every dbops function takes
APPLICATION_NAME = "dbops"
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]*)(@)")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact(text: str, secret: str | None = None) -> str:
    """Hide passwords in URLs, key=value conninfo strings and anywhere `secret` appears."""
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + ("***" if m.group(2) else "") + m.group(3), text)
    text = _KV_PASSWORD.sub(r"\1***", text)
    if secret:
        text = text.replace(secret, "***")
    return text


def password_of(conninfo: str) -> str | None:
    try:
        return conninfo_to_dict(conninfo).get("password") or None  # type: ignore[return-value]
    except psycopg.ProgrammingError:
        return None


def resolve_url(settings: Settings) -> str:
    """--database-url > DATABASE_URL > libpq PG* variables > the embedded server."""
    if settings.database_url:
        return settings.database_url
    if settings.database_url_source == "libpq":
        return ""
    from ops import embedded

    return embedded.ensure_running(settings.dbops_home)


def with_database(conninfo: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    return make_conninfo(conninfo, dbname=dbname)


def connect(conninfo: str, *, autocommit: bool = True, **kwargs: Any) -> Conn:
    """A connection named `dbops`; the server checks every second that the client still lives.

    Without that check a backend whose client was killed keeps running its statement (and
    holding its locks, advisory ones included) until the statement ends.
    """
    conn = _open(conninfo, autocommit=autocommit, **kwargs)
    if conn.info.server_version >= 140000:
        conn.execute("select set_config('client_connection_check_interval', '1000', false)")
        if not autocommit:
            conn.commit()
    return conn


def _open(conninfo: str, *, autocommit: bool, **kwargs: Any) -> Conn:
    try:
        return psycopg.connect(
            conninfo,
            autocommit=autocommit,
            application_name=APPLICATION_NAME,
            connect_timeout=10,
            **kwargs,
        )
    except psycopg.ProgrammingError as exc:
        raise ConnectError(
            f"invalid connection string: {redact(str(exc), password_of(conninfo))}",
            "write it as postgresql://user@host:port/dbname",
        ) from exc
    except psycopg.OperationalError as exc:
        message = redact(
            str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc), password_of(conninfo)
        )
        hint = _connect_hint(message, conninfo)
        raise ConnectError(f"cannot connect to {redact(describe(conninfo))}: {message}", hint) from exc


def _connect_hint(message: str, conninfo: str) -> str:
    """The next step for a failed connection: the server answered, or it did not."""
    if "password" in message or "authentication" in message:
        return "check the user and password (DATABASE_URL, ~/.pgpass or PGPASSWORD)"
    missing = re.search(r'database "([^"]+)" does not exist', message)
    if missing:
        return f"create it (createdb {missing.group(1)}) or fix the database name in the URL"
    server = describe(conninfo).split("@")[-1].rsplit("/", 1)[0]
    return f"check that the server at {server} is running and the URL is right"


def describe(conninfo: str) -> str:
    """A human label for a server: user@host:port/dbname, without the password."""
    try:
        parts = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "the database"
    host = str(parts.get("host") or "localhost")
    port = str(parts.get("port") or "5432")
    user = str(parts.get("user") or "")
    db = str(parts.get("dbname") or user)
    return f"{user + '@' if user else ''}{host}:{port}/{db}"


def pg_error_message(exc: psycopg.Error) -> str:
    """The primary message of a server error, with its detail and hint when present."""
    diag = exc.diag
    text = diag.message_primary or str(exc).strip().splitlines()[0]
    if diag.message_detail:
        text += f" ({diag.message_detail})"
    return text
