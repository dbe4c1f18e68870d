"""The market's hidden parameters, written to a file for scoring: the demand function, every product's
and category's true elasticity at reference prices, the competitors' strategies and the seed.

Nothing in the platform reads this file (an import-linter contract keeps the platform's modules away from
the simulators, and a test checks that no platform code mentions the truth file); estimators and
strategies are scored against it by the benchmarks and tests, on seeds they were not tuned on.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pricing_platform.core.catalog import Category
from pricing_platform.simulators.market import demand
from pricing_platform.simulators.market.shop import (
    CHECKOUT_PROBABILITY,
    REMOVE_FROM_CART_PROBABILITY,
    Market,
)
from pricing_platform.simulators.world import PRODUCT_INFOS

DEMAND_FUNCTION = (
    "P(purchase from us | product view) = exp(V_us) / (1 + exp(V_us) + sum_k exp(V_k)), "
    "V_us = alpha - beta * p / r, V_k = alpha - beta * p_k / r + switching_utility; "
    "r = reference_price, p = our price, p_k = competitor k's price; traffic (views) does not depend on price"
)


def category_elasticities(market: Market) -> dict[str, float]:
    """Each category's elasticity at reference prices: the elasticity of its total purchases when all its
    prices move together, i.e. its products' elasticities weighted by their purchases at reference prices
    (traffic share × base conversion)."""
    weights: dict[str, float] = defaultdict(float)
    weighted: dict[str, float] = defaultdict(float)
    for info, truth in zip(PRODUCT_INFOS, market.demand, strict=True):
        weight = info.popularity * truth.base_conversion
        weights[truth.category.value] += weight
        weighted[truth.category.value] += weight * truth.elasticity
    return {c.value: weighted[c.value] / weights[c.value] for c in Category}


def truth(market: Market) -> dict[str, Any]:
    return {
        "seed": market.seed,
        "start": market.start.isoformat(),
        "sessions_per_day": market.config.sessions_per_day,
        "elasticity_scale": market.config.elasticity_scale,
        "demand_function": DEMAND_FUNCTION,
        "switching_utility": demand.SWITCHING_UTILITY,
        "checkout_probability": CHECKOUT_PROBABILITY,
        "remove_from_cart_probability": REMOVE_FROM_CART_PROBABILITY,
        "hourly_traffic": list(demand.HOURLY_TRAFFIC),
        "categories": {
            category: {"elasticity_at_reference": value}
            for category, value in category_elasticities(market).items()
        },
        "products": {
            t.product_id: {
                "category": t.category.value,
                "reference_price": t.reference_price,
                "elasticity_at_reference": t.elasticity,
                "base_conversion": t.base_conversion,
                "alpha": t.alpha,
                "beta": t.beta,
                "competitor_reference_prices": {
                    c.name: round(c.reference_price(i), 2) for c in market.competitors
                },
            }
            for i, t in enumerate(market.demand)
        },
        "competitors": {c.name: c.describe() for c in market.competitors},
    }


def write_truth(market: Market, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth(market), indent=2, sort_keys=True) + "\n")
    return path
