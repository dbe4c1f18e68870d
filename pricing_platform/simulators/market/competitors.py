"""The three competitors, each with its own pricing strategy, all reacting in simulated time:

- TechMart, the **follower**: matches our price moves after a lag, 1 % below us, never above its own
  anchor nor below its cost floor. It follows our cuts (price-war risk) and raises back when we raise.
- GadgetZone, the **premium** shop: keeps a premium over the reference price and now and then runs a
  promotion (10–25 % off for 6–48 hours).
- ElectroHub, the **random walker**: a mean-reverting random walk around its anchor, one step an hour.

Each competitor's anchor is the product's market reference price (where the market prices it, which is
not our catalog price: see `market_references`) times the competitor's own positioning (a few percent
either way) and a small product-specific offset. Strategies are the market's hidden truth, recorded in
the truth file.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

FOLLOWER, PREMIUM, RANDOM_WALK = "follower", "premium", "random_walk"
STRATEGY_OF: Final[dict[str, str]] = {"TechMart": FOLLOWER, "GadgetZone": PREMIUM, "ElectroHub": RANDOM_WALK}

FOLLOW_LAG: Final = timedelta(hours=3)
FOLLOW_UNDERCUT: Final = 0.01
COST_MARGIN: Final = 0.02  # a competitor never sells below its unit cost plus this
PREMIUM_MARKUP: Final = 0.04
PROMOTIONS_PER_DAY: Final = 0.12  # per product
PROMOTION_DEPTH: Final = (0.10, 0.25)
PROMOTION_HOURS: Final = (6, 48)
WALK_REVERSION: Final = 0.06  # share of the gap to the anchor closed per hour
WALK_VOLATILITY: Final = 0.006  # per-hour standard deviation, relative to the reference price
POSITIONING: Final[dict[str, float]] = {"TechMart": -0.02, "GadgetZone": 0.0, "ElectroHub": 0.01}
PRODUCT_OFFSET_SD: Final = 0.015
# Where the market prices a product relative to our catalog price: a retailer's list price is not the
# market's, and the gap is what a pricing team acts on first (a few products 10 %+ off either way).
MARKET_POSITION_SD: Final = 0.07
MARKET_POSITION_LIMIT: Final = 0.20


def market_references(our_prices: list[float], rng: random.Random) -> list[float]:
    """The market's reference price per product, drawn around our catalog price."""
    return [
        price
        * (1 + max(-MARKET_POSITION_LIMIT, min(MARKET_POSITION_LIMIT, rng.gauss(0.0, MARKET_POSITION_SD))))
        for price in our_prices
    ]


@dataclass
class _OurPriceHistory:
    times: list[datetime] = field(default_factory=list)
    prices: list[float] = field(default_factory=list)

    def record(self, at: datetime, price: float) -> None:
        if self.prices and self.prices[-1] == price:
            return
        self.times.append(at)
        self.prices.append(price)

    def as_of(self, at: datetime) -> float:
        index = bisect.bisect_right(self.times, at) - 1
        return self.prices[max(index, 0)]


class Competitor:
    """One competitor's prices for every product, as functions of simulated time."""

    def __init__(
        self,
        name: str,
        references: list[float],
        unit_costs: list[float],
        seed: int,
        start: datetime,
        our_prices: list[float] | None = None,
    ) -> None:
        """`references`: the market's reference price per product; `our_prices`: ours at the start
        (default: the references)."""
        self.name = name
        self.strategy = STRATEGY_OF[name]
        # One generator per mechanism: how often prices are read never changes what is drawn.
        rng = random.Random(seed)
        self._walk_rng = random.Random(rng.getrandbits(64))
        self._promotion_rng = random.Random(rng.getrandbits(64))
        self.anchors = [
            r * (1 + POSITIONING[name] + rng.gauss(0.0, PRODUCT_OFFSET_SD)) * (1 + PREMIUM_MARKUP)
            if self.strategy == PREMIUM
            else r * (1 + POSITIONING[name] + rng.gauss(0.0, PRODUCT_OFFSET_SD))
            for r in references
        ]
        self.floors = [cost * (1 + COST_MARGIN) for cost in unit_costs]
        self._ours = [_OurPriceHistory() for _ in references]
        for history, ours in zip(self._ours, our_prices or references, strict=True):
            history.record(start - FOLLOW_LAG * 2, ours)
        # Random walk state: level relative to the anchor, advanced hour by hour.
        self._walk = [0.0 for _ in references]
        self._walk_hour = start.replace(minute=0, second=0, microsecond=0)
        self._references = references
        # Promotions: per product, sorted (start, end, depth).
        self._promotions: list[list[tuple[datetime, datetime, float]]] = [[] for _ in references]
        self._promotions_until = start

    def observe_our_price(self, index: int, at: datetime, price: float) -> None:
        self._ours[index].record(at, price)

    def price(self, index: int, at: datetime) -> float:
        if self.strategy == FOLLOWER:
            lagged = self._ours[index].as_of(at - FOLLOW_LAG)
            price = min(self.anchors[index], lagged * (1 - FOLLOW_UNDERCUT))
        elif self.strategy == PREMIUM:
            price = self.anchors[index] * (1 - self._promotion_depth(index, at))
        else:
            self._advance_walk(at)
            price = self.anchors[index] + self._walk[index] * self._references[index]
        return round(max(self.floors[index], price), 2)

    def reference_price(self, index: int) -> float:
        """Where this competitor sits when nothing moves: the truth's reference position."""
        return self.anchors[index]

    def _promotion_depth(self, index: int, at: datetime) -> float:
        self._plan_promotions(at)
        for begin, end, depth in self._promotions[index]:
            if begin <= at < end:
                return depth
        return 0.0

    def _plan_promotions(self, at: datetime) -> None:
        # Draw promotions day by day ahead of `at`, so the plan never depends on how often prices are read.
        while self._promotions_until <= at:
            day_end = self._promotions_until + timedelta(days=1)
            for plan in self._promotions:
                t = self._promotions_until
                while True:
                    t += timedelta(days=self._promotion_rng.expovariate(PROMOTIONS_PER_DAY))
                    if t >= day_end:
                        break
                    hours = self._promotion_rng.uniform(*PROMOTION_HOURS)
                    depth = self._promotion_rng.uniform(*PROMOTION_DEPTH)
                    plan.append((t, t + timedelta(hours=hours), depth))
            self._promotions_until = day_end

    def _advance_walk(self, at: datetime) -> None:
        while self._walk_hour + timedelta(hours=1) <= at:
            self._walk_hour += timedelta(hours=1)
            for i, level in enumerate(self._walk):
                step = -WALK_REVERSION * level + WALK_VOLATILITY * self._walk_rng.gauss(0.0, 1.0)
                self._walk[i] = max(-0.25, min(0.25, level + step))

    def describe(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "follow_lag_h": FOLLOW_LAG.total_seconds() / 3600 if self.strategy == FOLLOWER else None,
            "undercut": FOLLOW_UNDERCUT if self.strategy == FOLLOWER else None,
            "premium": PREMIUM_MARKUP if self.strategy == PREMIUM else None,
            "promotions_per_day": PROMOTIONS_PER_DAY if self.strategy == PREMIUM else None,
            "walk_reversion_per_h": WALK_REVERSION if self.strategy == RANDOM_WALK else None,
            "walk_volatility_per_h": WALK_VOLATILITY if self.strategy == RANDOM_WALK else None,
            "floor": f"unit cost × {1 + COST_MARGIN:g}",
        }
