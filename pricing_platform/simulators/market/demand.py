"""Price-responsive shoppers: a multinomial logit with an outside option, per product.

A shopper viewing a product on our storefront chooses between buying it from us, buying it from one of the
competitors (whose prices they can see or know), and not buying at all:

    V_us = α − β · p / r          V_k = α − β · p_k / r + γ          V_none = 0
    P(buy from us) = exp(V_us) / (1 + exp(V_us) + Σ_k exp(V_k))

with r the product's reference price (the catalog's base price), β its price sensitivity and γ < 0 the
cost of leaving our page to buy elsewhere. The own-price elasticity of our demand is
−β · (p / r) · (1 − P(us)); each product's β is calibrated so that, at reference prices (ours at r,
competitors at their reference positions), that elasticity is the product's true one, and α so that the
probability of buying at reference prices is the product's base conversion. Category elasticities sit
between −0.8 and −2.5 (electronics retail), products scatter around their category's.

Traffic (product views) does not depend on price; conversion does. Demand has an hour-of-day pattern.
Everything here is the market's hidden truth: the platform never reads it, it only sees the events.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pricing_platform.core.catalog import Category

# Elasticity of demand at reference prices per category: the market's frozen defaults (flagship phones
# and laptops are compared hard across shops; accessories are bought on the spot).
CATEGORY_ELASTICITY: Final[dict[Category, float]] = {
    Category.PHONES: -1.9,
    Category.LAPTOPS: -1.5,
    Category.HEADPHONES: -2.2,
    Category.TABLETS: -1.3,
    Category.ACCESSORIES: -0.9,
}
# Spread of a product's elasticity around its category's (lognormal sigma).
PRODUCT_ELASTICITY_SPREAD: Final = 0.08
# Probability that a product view ends in a purchase at reference prices (a few percent: most sessions
# browse; about 5 % of sessions buy something).
BASE_CONVERSION: Final[dict[Category, float]] = {
    Category.PHONES: 0.030,
    Category.LAPTOPS: 0.025,
    Category.HEADPHONES: 0.045,
    Category.TABLETS: 0.030,
    Category.ACCESSORIES: 0.060,
}
# Utility of buying at a competitor instead, for a shopper already on our page.
SWITCHING_UTILITY: Final = -1.5
# Relative traffic by hour of day (UTC; the shop's customers are one time zone): a night trough, a lunch
# bump, an evening peak.
HOURLY_TRAFFIC: Final[tuple[float, ...]] = (
    0.30, 0.20, 0.15, 0.12, 0.12, 0.18, 0.35, 0.60, 0.85, 0.95, 1.00, 1.10,
    1.25, 1.20, 1.05, 1.00, 1.05, 1.15, 1.35, 1.55, 1.60, 1.40, 1.00, 0.60,
)  # fmt: skip


def hourly_share(hour: int) -> float:
    """Share of a day's sessions that start in `hour` (0–23)."""
    return HOURLY_TRAFFIC[hour] / sum(HOURLY_TRAFFIC)


@dataclass(frozen=True, slots=True)
class ProductDemand:
    product_id: str
    category: Category
    reference_price: float
    elasticity: float  # at reference prices: the truth an estimator is scored against
    base_conversion: float  # P(buy from us | view) at reference prices
    alpha: float
    beta: float

    def conversion(self, price: float, competitor_prices: Sequence[float]) -> float:
        """P(buy from us | view) at our `price` and the competitors' current prices."""
        r = self.reference_price
        v_us = self.alpha - self.beta * price / r
        others = sum(math.exp(self.alpha - self.beta * p / r + SWITCHING_UTILITY) for p in competitor_prices)
        e_us = math.exp(v_us)
        return e_us / (1.0 + e_us + others)

    def elasticity_at(self, price: float, competitor_prices: Sequence[float]) -> float:
        """Point own-price elasticity of our conversion at these prices."""
        return -self.beta * price / self.reference_price * (1.0 - self.conversion(price, competitor_prices))


def calibrate(
    product_id: str,
    category: Category,
    reference_price: float,
    elasticity: float,
    base_conversion: float,
    competitor_reference: Sequence[float],
) -> ProductDemand:
    """α and β so that, with competitors at `competitor_reference` (absolute prices), our conversion at the
    reference price is `base_conversion` and its elasticity is `elasticity`."""
    if not elasticity < 0 or not 0 < base_conversion < 1:
        raise ValueError(f"{product_id}: need elasticity < 0 and 0 < base_conversion < 1")
    beta = -elasticity / (1.0 - base_conversion)
    rel = [p / reference_price for p in competitor_reference]
    # P(us) = x·e^(−β) / (1 + x·C), C = e^(−β) + Σ e^(−β·rel_k + γ), x = e^α  →  x = s / (e^(−β) − s·C)
    own = math.exp(-beta)
    c = own + sum(math.exp(-beta * q + SWITCHING_UTILITY) for q in rel)
    denominator = own - base_conversion * c
    if denominator <= 0:
        raise ValueError(f"{product_id}: base conversion {base_conversion} unreachable against competitors")
    alpha = math.log(base_conversion / denominator)
    return ProductDemand(product_id, category, reference_price, elasticity, base_conversion, alpha, beta)


def draw_product_elasticity(category: Category, rng: random.Random, scale: float = 1.0) -> float:
    """A product's true elasticity: its category's × a lognormal spread, times `scale` (robustness runs)."""
    return CATEGORY_ELASTICITY[category] * scale * math.exp(rng.gauss(0.0, PRODUCT_ELASTICITY_SPREAD))
