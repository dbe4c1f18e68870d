"""Calling the database's SECURITY DEFINER functions (approvals, policy edits) as the approver role, and
telling a refusal the analyst can act on from a failure of the database."""

from __future__ import annotations

from typing import Any

import psycopg

from pricing_platform.dashboard.errors import first_line

# The functions raise their refusals in SQLSTATE class PA (migrations 0006, 0007, 0011): things the analyst
# can act on, as opposed to the database being unreachable or failing.
_REFUSAL_CLASS = "PA"
# A call waits at most this long for a row another call holds, then says so.
_OPTIONS = "-c lock_timeout=5000 -c statement_timeout=10000"


class Refused(Exception):
    """The database refused the change; the message says why and what to do."""


class Failed(Exception):
    """The change could not be made (database unreachable or failing); nothing changed."""


def call(conninfo: str, statement: str, params: tuple[Any, ...], what: str) -> list[tuple[Any, ...]]:
    """Run `statement` (one function call) in its own transaction and return its rows; `what` names the
    change in a failure ("the approval")."""
    try:
        with psycopg.connect(conninfo, connect_timeout=5, options=_OPTIONS) as conn:
            return conn.execute(statement, params).fetchall()
    except psycopg.Error as exc:
        if exc.sqlstate and exc.sqlstate.startswith(_REFUSAL_CLASS):
            raise Refused(exc.diag.message_primary or str(exc)) from exc
        raise Failed(f"{what} was not made, nothing changed: {first_line(exc)}") from exc
