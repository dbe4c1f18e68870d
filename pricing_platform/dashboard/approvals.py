"""Approving a recommendation: one call of the database function `approve_recommendation`, made as the
narrow approver role, which changes the product's price and writes the audit row in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg

# SQLSTATEs `approve_recommendation` raises for a refusal the analyst can act on (see migration 0004).
_REFUSALS = {"22023", "P0002", "23505", "40001"}


class ApprovalRefused(Exception):
    """The database refused the approval; the message says why and what to do."""


@dataclass(frozen=True)
class PriceChange:
    product_id: str
    old_price: Decimal
    new_price: Decimal
    approved_by: str
    approved_at: datetime


def approve(conninfo: str, recommendation_id: int, approved_by: str, note: str | None = None) -> PriceChange:
    try:
        with psycopg.connect(conninfo, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT product_id, old_price, new_price, approved_by, approved_at "
                "FROM approve_recommendation(%s, %s, %s)",
                (recommendation_id, approved_by, note or None),
            ).fetchone()
    except psycopg.Error as exc:
        if exc.sqlstate in _REFUSALS:
            raise ApprovalRefused(exc.diag.message_primary or str(exc)) from exc
        raise
    assert row is not None  # the function returns its audit row or raises
    return PriceChange(*row)
