"""Approving a recommendation: one call of the database function `approve_recommendation`, made as the
narrow approver role, which changes the product's price and writes the audit row in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg

from pricing_platform.dashboard.errors import first_line

# `approve_recommendation` raises its refusals in SQLSTATE class PA (migration 0006): things the analyst
# can act on, as opposed to the database being unreachable or failing.
_REFUSAL_CLASS = "PA"
# An approval waits at most this long for a product another approval holds, then says so.
_OPTIONS = "-c lock_timeout=5000 -c statement_timeout=10000"


class ApprovalRefused(Exception):
    """The database refused the approval; the message says why and what to do."""


class ApprovalFailed(Exception):
    """The approval could not be made (database unreachable or failing); nothing changed."""


@dataclass(frozen=True)
class PriceChange:
    product_id: str
    old_price: Decimal
    new_price: Decimal
    approved_by: str
    approved_at: datetime


def approve(conninfo: str, recommendation_id: int, approved_by: str, note: str | None = None) -> PriceChange:
    try:
        with psycopg.connect(conninfo, connect_timeout=5, options=_OPTIONS) as conn:
            row = conn.execute(
                "SELECT product_id, old_price, new_price, approved_by, approved_at "
                "FROM approve_recommendation(%s, %s, %s)",
                (recommendation_id, approved_by, note or None),
            ).fetchone()
    except psycopg.Error as exc:
        if exc.sqlstate and exc.sqlstate.startswith(_REFUSAL_CLASS):
            raise ApprovalRefused(exc.diag.message_primary or str(exc)) from exc
        raise ApprovalFailed(f"the approval was not made, nothing changed: {first_line(exc)}") from exc
    assert row is not None  # the function returns its audit row or raises
    return PriceChange(*row)
