"""Editing a category's pricing policy and a product's price bounds: calls of `set_category_policy` and
`set_price_bounds` (migration 0011) as the approver role; each writes its audit rows in the same
transaction, and refuses bad values with a message naming the setting and the allowed range."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from pricing_platform.dashboard.definer import Failed, Refused, call


class PolicyRefused(Refused):
    """The database refused the edit; the message says which value and why."""


class PolicyFailed(Failed):
    """The edit could not be made (database unreachable or failing); nothing changed."""


@dataclass(frozen=True)
class PolicyChange:
    subject: str
    setting: str
    old_value: Any  # None: the environment's default (or no bound)
    new_value: Any
    changed_by: str
    changed_at: datetime


def _changes(statement: str, params: tuple[Any, ...], conninfo: str) -> list[PolicyChange]:
    try:
        rows = call(conninfo, statement, params, "the policy change")
    except Refused as exc:
        raise PolicyRefused(str(exc)) from exc
    except Failed as exc:
        raise PolicyFailed(str(exc)) from exc
    return [PolicyChange(*row) for row in rows]


def set_category_policy(
    conninfo: str, category: str, settings: Mapping[str, Any], changed_by: str, note: str | None = None
) -> list[PolicyChange]:
    """Set (None: back to the environment's default) some of a category's settings; returns what changed."""
    return _changes(
        "SELECT subject, setting, old_value, new_value, changed_by, changed_at "
        "FROM set_category_policy(%s, %s, %s, %s)",
        (category, Jsonb(dict(settings)), changed_by, note or None),
        conninfo,
    )


def set_price_bounds(
    conninfo: str,
    product_id: str,
    min_price: Decimal | None,
    max_price: Decimal | None,
    changed_by: str,
    note: str | None = None,
) -> list[PolicyChange]:
    """Set a product's minimum and maximum price (None: no bound); returns what changed."""
    return _changes(
        "SELECT subject, setting, old_value, new_value, changed_by, changed_at "
        "FROM set_price_bounds(%s, %s, %s, %s, %s)",
        (product_id, min_price, max_price, changed_by, note or None),
        conninfo,
    )


def set_auto_apply(
    conninfo: str, enabled: bool, changed_by: str, note: str | None = None
) -> list[PolicyChange]:
    """The global kill switch of automatic application; returns the change (none when already so)."""
    return _changes(
        "SELECT subject, setting, old_value, new_value, changed_by, changed_at "
        "FROM set_auto_apply(%s, %s, %s)",
        (enabled, changed_by, note or None),
        conninfo,
    )


@dataclass(frozen=True)
class Review:
    product_id: str
    decision: str
    snoozed_until: datetime | None


def review_recommendation(
    conninfo: str,
    recommendation_id: int,
    decision: str,
    reviewed_by: str,
    note: str | None = None,
    snooze_hours: float | None = None,
) -> Review:
    """Reject a recommendation (with a note) or snooze its product for some hours."""
    try:
        rows = call(
            conninfo,
            "SELECT product_id, decision, snoozed_until FROM review_recommendation(%s, %s, %s, %s, %s)",
            (recommendation_id, decision, reviewed_by, note or None, snooze_hours),
            "the review",
        )
    except Refused as exc:
        raise PolicyRefused(str(exc)) from exc
    except Failed as exc:
        raise PolicyFailed(str(exc)) from exc
    return Review(*rows[0])
