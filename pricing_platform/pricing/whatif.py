"""What-if: the latest cycle's decisions for one category under an edited policy, beside what the cycle
decided, with the predicted units and gross profit per hour of each (before anything is saved).

Both sides run the cycle's own decision code (cycle.decide_all) on the cycle's stored inputs: "before" with
the policy saved now (which, unless it changed since, reproduces the recommendations the cycle wrote),
"after" with the edit on top, so the difference is the edit alone. Units and profit
come from the learned demand (profit.predict) for every product, whatever strategy priced it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pricing_platform.pricing.cycle import decide_all, demand_columns
from pricing_platform.pricing.cycle_inputs import CycleInputs
from pricing_platform.pricing.policy import POLICY_SETTINGS, Overrides, rules_by_category
from pricing_platform.pricing.profit import predict


@dataclass(frozen=True)
class ProductChange:
    product_id: str
    recommendation_before: str
    price_before: float
    recommendation_after: str
    price_after: float
    units_before: float  # per hour, at the recommended price
    units_after: float
    profit_before: float
    profit_after: float
    reason_after: str


@dataclass(frozen=True)
class Preview:
    category: str
    products: int
    changes: list[ProductChange]
    # Over every product of the category, at the recommended prices (per hour).
    units_before: float
    units_after: float
    profit_before: float
    profit_after: float


def preview(
    stored: CycleInputs, category: str, edited: Mapping[str, object], saved: Overrides | None = None
) -> Preview:
    """The category's recommendations with `edited` (setting → value, None: back to the default) applied
    over the policy `saved` now (by default the one in force when the inputs were stored), beside those
    under `saved` alone: the difference is the edit's."""
    unknown = set(edited) - set(POLICY_SETTINGS)
    if unknown:
        raise ValueError(f"unknown policy settings {sorted(unknown)}; known: {POLICY_SETTINGS}")
    current = stored.overrides if saved is None else saved
    own = {**current.get(category, {}), **edited}
    after_overrides = {**current, category: {k: v for k, v in own.items() if v is not None}}
    inputs = stored.inputs
    before = decide_all(inputs, stored.profit_inputs, rules_by_category(stored.rules, current))
    after = decide_all(inputs, stored.profit_inputs, rules_by_category(stored.rules, after_overrides))
    rows = np.flatnonzero(inputs["category"] == category)
    demand = demand_columns(inputs, stored.profit_inputs, rows)
    units_before, profit_before = predict(demand, np.asarray(before["recommended_price"][rows], dtype=float))
    units_after, profit_after = predict(demand, np.asarray(after["recommended_price"][rows], dtype=float))
    changes = []
    for k, i in enumerate(rows.tolist()):
        if (
            before["recommendation"][i] == after["recommendation"][i]
            and abs(before["recommended_price"][i] - after["recommended_price"][i]) < 0.005
        ):
            continue
        changes.append(
            ProductChange(
                product_id=str(inputs["product_id"][i]),
                recommendation_before=str(before["recommendation"][i]),
                price_before=float(before["recommended_price"][i]),
                recommendation_after=str(after["recommendation"][i]),
                price_after=float(after["recommended_price"][i]),
                units_before=float(units_before[k]),
                units_after=float(units_after[k]),
                profit_before=float(profit_before[k]),
                profit_after=float(profit_after[k]),
                reason_after=str(after["reason"][i]),
            )
        )
    return Preview(
        category=category,
        products=len(rows),
        changes=changes,
        units_before=float(units_before.sum()),
        units_after=float(units_after.sum()),
        profit_before=float(profit_before.sum()),
        profit_after=float(profit_after.sum()),
    )
