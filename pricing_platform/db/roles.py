"""The database roles of the platform besides the schema owner, and their passwords.

The dashboard never connects as the owner: it reads as `pricing_dashboard` (SELECT on the marts, the
latest tables and the analytics tables, nothing else) and approves prices as `pricing_approver`, which
may only execute `approve_recommendation` (a SECURITY DEFINER function that changes one price and writes
its audit row in one transaction). Migration 0004 creates both roles with LOGIN and no password; where
the server asks for passwords, `sync_passwords` sets them from the URLs in the settings.
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


def sync_passwords(conn: psycopg.Connection, conninfos: dict[str, str]) -> list[str]:
    """Set each role's password to the one in its conninfo, when it carries one. Returns the roles set."""
    changed = []
    for role, conninfo in conninfos.items():
        params = conninfo_to_dict(conninfo)
        password = params.get("password")
        if password and params.get("user") == role:
            # ALTER ROLE takes no bind parameters: the password is quoted as a literal by psycopg.
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
            )
            changed.append(role)
    return changed
