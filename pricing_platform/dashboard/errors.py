"""How the dashboard names a database problem to a person: the cause, and where it tried, never a
password."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict


def first_line(exc: Exception) -> str:
    # libpq puts the cause first and hints after it.
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe(conninfo: str) -> str:
    """user@host:port/dbname of `conninfo`."""
    params = conninfo_to_dict(conninfo)
    user, host = params.get("user", "?"), params.get("host", "localhost")
    return f"{user}@{host}:{params.get('port', 5432)}/{params.get('dbname', '?')}"
