"""The one connection factory: every connection dbops opens comes from `connect()`."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ops.config import Settings
from ops.errors import ConfigError, ConnectError

Conn = psycopg.Connection[Any]  # the connection type every dbops function takes
APPLICATION_NAME = "dbops"
DIRECT_URL_SOURCES = ("--direct-url", "DBOPS_DIRECT_URL")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)(\S*)(@)")  # greedy: up to the last @ of the word
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def server_major(version_num: int) -> int:
    """PostgreSQL's major version from its version number (`server_version_num`: 180001 -> 18)."""
    return version_num // 10000


def redact(text: str, secret: str | None = None, *, secrets: Sequence[str] = ()) -> str:
    """Hide passwords in URLs, key=value conninfo strings and anywhere `secret(s)` appear."""
    for known in (secret, *secrets):
        if known:
            text = text.replace(known, "***")
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + ("***" if m.group(2) else "") + m.group(3), text)
    return _KV_PASSWORD.sub(r"\1***", text)


# everything before the URL's last @: a password may hold '/', '@' or bad %-escapes
_URL_USERINFO = re.compile(r"^\s*[a-z][a-z0-9+.-]*://(.*)@", re.IGNORECASE | re.DOTALL)
_URL_QUERY_PASSWORD = re.compile(r"[?&]password=(.*)$", re.IGNORECASE | re.DOTALL)
_KV_VALUE = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def password_of(conninfo: str) -> str | None:
    try:
        return conninfo_to_dict(conninfo).get("password") or None  # type: ignore[return-value]
    except psycopg.ProgrammingError:
        found = passwords_in(conninfo)
        return found[0] if found else None


def passwords_in(conninfo: str | None) -> list[str]:
    """Every form a password of `conninfo` may take in a message, also when it cannot be parsed."""
    if not conninfo:
        return []
    found: list[str] = []
    with contextlib.suppress(psycopg.ProgrammingError):
        parsed = conninfo_to_dict(conninfo).get("password")
        if parsed:
            found.append(str(parsed))
    url = _URL_USERINFO.match(conninfo)
    if url:  # the user info may end at any '@' (libpq stops at the first, a password may hold one)
        userinfo = url.group(1)
        for end in (i for i, ch in enumerate(userinfo + "@") if ch == "@"):
            if ":" in userinfo[:end]:
                raw = userinfo[:end].split(":", 1)[1]
                # libpq may read what follows a password's '@' as the host: each piece is secret
                found += [raw, unquote(raw), *raw.split("@")]
    for match in _URL_QUERY_PASSWORD.finditer(conninfo):  # to the end: '&' or ' ' may be part of it
        value = match.group(1)
        found += [value, unquote(value), *re.split(r"[&\s]", value)]
    for match in _KV_VALUE.finditer(conninfo):
        value = match.group(1)
        found += [value, value.strip("'")]
    # longest first, so a password is replaced whole before any shorter form of it
    return sorted({p for p in found if len(p) >= 3}, key=len, reverse=True)


def resolve_url(settings: Settings) -> str:
    """--database-url > DATABASE_URL > libpq PG* variables > the embedded server."""
    if settings.database_url:
        return settings.database_url
    if settings.database_url_source == "libpq":
        return ""
    from ops import embedded

    return embedded.ensure_running(settings.dbops_home)


def embedded_home(settings: Settings) -> Path | None:
    """DBOPS_HOME when the server is the embedded one dbops starts itself, else None."""
    if settings.database_url or settings.database_url_source == "libpq":
        return None
    return settings.dbops_home


def with_database(conninfo: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    return make_conninfo(conninfo, dbname=dbname)


def connect(conninfo: str, *, autocommit: bool = True, pooled: bool = False, **kwargs: Any) -> Conn:
    """A connection named `dbops`; the server checks every second that the client still lives.

    Without that check a backend whose client was killed keeps running its statement (and
    holding its locks, advisory ones included) until the statement ends.

    `pooled=True` for a URL through a transaction-mode pooler (PgBouncer before 1.21, or
    one without prepared-statement support): psycopg then prepares no statement (a prepared
    statement lives in one server session, which the next transaction may not get), and no
    session setting is made (it would stay with the server connection, for other clients).
    """
    if pooled:
        kwargs.setdefault("prepare_threshold", None)
    conn = _open(conninfo, autocommit=autocommit, **kwargs)
    if not pooled and server_major(conn.info.server_version) >= 14:
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
    except (psycopg.ProgrammingError, UnicodeError) as exc:  # UnicodeError: a host IDNA cannot encode
        # a string libpq cannot read is a usage error (2), not a server that cannot be reached
        why = " ".join(str(exc).split())
        raise ConfigError(
            f"invalid connection string: {redact(why, secrets=passwords_in(conninfo))}",
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


def sees_own_client(conn: Conn) -> bool:
    """Whether the server's view of its client is this very socket (no pooler or proxy between).

    Through a pooler the server's client is the pooler: another address or port over TCP, or
    a TCP or socket client where this side has the other kind. A pooler on a Unix socket in
    front of a Unix socket cannot be told apart this way (then `pooled = true` says so).
    """
    row = conn.execute("select host(inet_client_addr()), inet_client_port()").fetchone()
    server_sees = (row[0], row[1]) if row else (None, None)
    with socket.socket(fileno=os.dup(conn.pgconn.socket)) as own:
        if own.family == socket.AF_UNIX:
            return server_sees[0] is None
        host, port = own.getsockname()[:2]
    if server_sees[0] is None:
        return False
    return (ipaddress.ip_address(server_sees[0]), server_sees[1]) == (_plain(host), port)


def _plain(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def check_direct(conn: Conn, settings: Settings) -> None:
    """Refuse (exit 2) a connection whose server session may change between transactions.

    dbops' jobs hold a session-level advisory lock and run several transactions under it; a
    transaction-mode pooler hands each transaction to any server connection, so the lock
    would be shared or lost. `pooled = false` skips the check (a session-mode proxy).
    """
    if settings.pooled is False:
        return
    marked = settings.pooled is True and settings.database_url_source not in DIRECT_URL_SOURCES
    if marked or not sees_own_client(conn):
        why = (
            "the URL is marked pooled (pooled = true)"
            if marked
            else "the server does not see this connection as its client: a pooler or proxy is between"
        )
        raise ConfigError(
            f"dbops needs one server session for its whole run, and {why}",
            "give dbops a direct URL: --direct-url or DBOPS_DIRECT_URL (the application keeps the pooled "
            "one); for a session-mode proxy set pooled = false in [tool.dbops]",
        )
