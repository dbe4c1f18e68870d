"""A category's pricing policy: which settings it may override, and the rules it is priced by.

The environment (PRICING_*) sets every default; a category's row in `category_policies` overrides some of
them (NULL: the default). The analyst edits those rows from the dashboard through `set_category_policy`
(migration 0011), so a change takes effect at the next cycle without a redeploy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

import psycopg
from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.pricing.rules import PricingRules

# The columns of category_policies besides its bookkeeping, in the table's order (a test compares).
POLICY_SETTINGS: Final = (
    "strategy",
    "lower_gap_pct",
    "lower_max_velocity",
    "raise_gap_pct",
    "raise_min_velocity",
    "target_factor",
    "min_margin_pct",
    "max_step_pct",
    "min_gain_pct",
    "lead_time_h",
    "overstock_days",
    "auto_apply_band_pct",
    "auto_apply_min_confidence",
    "max_changes_per_day",
)

# category → {setting: value}, only the settings the category overrides.
Overrides = Mapping[str, Mapping[str, object]]

LOAD_SQL = sql.SQL("SELECT category, {} FROM {}").format(
    sql.SQL(", ").join(map(sql.Identifier, POLICY_SETTINGS)), sql.Identifier(tables.CATEGORY_POLICIES)
)


def load_overrides(conn: psycopg.Connection) -> dict[str, dict[str, object]]:
    """Every category's overrides as stored (NULL columns left out)."""
    overrides: dict[str, dict[str, object]] = {}
    for category, *values in conn.execute(LOAD_SQL).fetchall():
        own = {name: value for name, value in zip(POLICY_SETTINGS, values, strict=True) if value is not None}
        if own:
            overrides[category] = own
    return overrides


def category_rules(base: PricingRules, category: str, overrides: Overrides) -> PricingRules:
    """The rules that price `category`: the stored policy over the environment's, whose per-category
    strategy (PRICING_STRATEGIES) in turn wins over its default (PRICING_STRATEGY)."""
    own = {name: value for name, value in overrides.get(category, {}).items() if value is not None}
    unknown = set(own) - set(POLICY_SETTINGS)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)} for {category!r}; known: {POLICY_SETTINGS}")
    strategy = own.pop("strategy", None) or base.strategy_of(category)
    values = {name: getattr(base, name) for name in PricingRules.model_fields}
    rules = PricingRules(**{**values, **own, "strategy": strategy, "strategies": {}})
    rules.strategy_of(category)  # refuses an unknown strategy with the known ones named
    return rules


def rules_by_category(base: PricingRules, overrides: Overrides) -> Callable[[str], PricingRules]:
    """`category_rules` for each category, built once per category."""
    built: dict[str, PricingRules] = {}

    def rules_of(category: str) -> PricingRules:
        if category not in built:
            built[category] = category_rules(base, category, overrides)
        return built[category]

    return rules_of
