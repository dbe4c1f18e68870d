"""Approving a recommendation: one call of the database function `approve_recommendation`, made as the
narrow approver role, which changes the product's price and writes the audit row in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pricing_platform.dashboard.definer import Failed, Refused, call


class ApprovalRefused(Refused):
    """The database refused the approval; the message says why and what to do."""


class ApprovalFailed(Failed):
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
        rows = call(
            conninfo,
            "SELECT product_id, old_price, new_price, approved_by, approved_at "
            "FROM approve_recommendation(%s, %s, %s)",
            (recommendation_id, approved_by, note or None),
            "the approval",
        )
    except Refused as exc:
        raise ApprovalRefused(str(exc)) from exc
    except Failed as exc:
        raise ApprovalFailed(str(exc)) from exc
    return PriceChange(*rows[0])  # the function returns its audit row or raises
