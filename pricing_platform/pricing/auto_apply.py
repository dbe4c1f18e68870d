"""Automatic application of a checked cycle: the raise/lower recommendations inside their category's band,
confident enough and under the product's daily cap are applied through the same audited path as an
approval (`apply_price_change`: price, audit row and outbox row in one transaction); every other one
waits in the review queue with the reason. The decision is `auto_apply_cycle` in migration 0012, given the
environment's defaults, which each category's stored policy overrides."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from uuid import UUID

import psycopg

from pricing_platform.pricing.rules import PricingRules

_APPLY = "SELECT recommendation_id, product_id, outcome, detail FROM auto_apply_cycle(%s, %s, %s, %s)"


@dataclass(frozen=True)
class Outcome:
    recommendation_id: int
    product_id: str
    outcome: str  # "applied", or why it waits: outside_band, low_confidence, daily_cap, …
    detail: str


def apply_cycle(conn: psycopg.Connection, cycle_id: UUID, rules: PricingRules) -> list[Outcome]:
    """Decide every raise/lower of `cycle_id` once (a cycle decided before is skipped) and commit."""
    with conn.transaction():
        rows = conn.execute(
            _APPLY,
            (cycle_id, rules.auto_apply_band_pct, rules.auto_apply_min_confidence, rules.max_changes_per_day),
        ).fetchall()
    return [Outcome(*row) for row in rows]


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    return dict(Counter(o.outcome for o in outcomes))
