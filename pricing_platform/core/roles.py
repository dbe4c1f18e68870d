"""The database roles of the platform besides the schema owner, and their passwords.

The dashboard never connects as the owner: it reads as `pricing_dashboard` (SELECT on the marts, the
latest tables and the analytics tables, nothing else) and approves prices as `pricing_approver`, which
may only execute `approve_recommendation` (a SECURITY DEFINER function that changes one price and writes
its audit row in one transaction). An administrator creates both roles (the local stack and
`deploy/postgres/initdb` do; migration 0004 creates them only when the migrating role may). Where the
server asks for passwords and the migrating role may manage roles, `sync_passwords` sets them from the URLs
in the settings.
"""

from __future__ import annotations

from typing import Final

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

DASHBOARD_READER: Final = "pricing_dashboard"
PRICE_APPROVER: Final = "pricing_approver"
ALL: Final = (DASHBOARD_READER, PRICE_APPROVER)


def role_conninfo(database_conninfo: str, role: str) -> str:
    """`database_conninfo` (URL or key=value) as `role`, without the owner's password."""
    params = {k: v for k, v in conninfo_to_dict(database_conninfo).items() if v is not None}
    params.pop("password", None)
    params["user"] = role
    return psycopg.conninfo.make_conninfo("", **params)


def set_password(conn: psycopg.Connection, role: str, password: str) -> None:
    """Store `password` for `role`, sending only its SCRAM verifier: the server never receives (or logs,
    with log_statement = ddl) the password itself."""
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    # ALTER ROLE takes no bind parameters; the verifier is quoted as a literal by psycopg.
    conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)))


def may_manage_roles(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    return bool(row and row[0])


def sync_passwords(conn: psycopg.Connection, conninfos: dict[str, str]) -> list[str]:
    """Set each role's password to the one in its conninfo, when it carries one and the connected role
    may manage roles (otherwise an administrator sets them, as `deploy/postgres/initdb` does). Returns
    the roles whose password was set."""
    wanted = {}
    for role, conninfo in conninfos.items():
        params = conninfo_to_dict(conninfo)
        if params.get("password") and params.get("user") == role:
            wanted[role] = str(params["password"])
    if not wanted or not may_manage_roles(conn):
        return []
    for role, password in wanted.items():
        set_password(conn, role, password)
    return list(wanted)
