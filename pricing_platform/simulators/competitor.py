"""Competitor price observations: one scrape of one competitor's price for one product per event.

Each (product, competitor) price follows a mean-reverting random walk around the competitor's own
positioning (its bias against our base price), so consecutive observations are close and the pricing
engine sees trends rather than noise. Now and then a competitor runs a promotion: the price drops
10–25 % for a stretch of observations, then snaps back.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from pricing_platform.core.catalog import CENT, COMPETITORS, Stream
from pricing_platform.core.events import CompetitorPriceEvent
from pricing_platform.simulators.world import PRODUCT_INFOS, Clock, EventIds, ProductInfo, SimEvent, utc_now

COMPETITOR_BIAS_RANGE: Final = 0.05  # each competitor sits up to ±5 % from our list prices
PRODUCT_OFFSET_SD: Final = 0.015  # ...with some products positioned a little differently
REVERSION: Final = 0.05  # share of the gap to the anchor closed per price change
VOLATILITY: Final = 0.004  # standard deviation of one price change, relative to our base price
CHANGE_PROBABILITY: Final = 0.5  # most scrapes find the price unchanged since the last one
PROMOTION_PROBABILITY: Final = 0.004
PROMOTION_DEPTH: Final = (0.10, 0.25)
PROMOTION_LENGTH: Final = (20, 60)  # in observations of that product at that competitor
_MAX_DRIFT: Final = 0.3  # guards against a freak run of draws; never reached in practice


class _Quote:
    """The walk state of one product at one competitor."""

    __slots__ = ("anchor", "competitor", "level", "product", "promotion_depth", "promotion_left")

    def __init__(self, product: ProductInfo, competitor: str, anchor: float, level: float) -> None:
        self.product = product
        self.competitor = competitor
        self.anchor = anchor
        self.level = level
        self.promotion_depth = 0.0
        self.promotion_left = 0


class CompetitorPriceGenerator:
    """Infinite iterator of `(Stream.COMPETITOR, key, CompetitorPriceEvent)`."""

    def __init__(self, seed: int, clock: Clock = utc_now) -> None:
        rng = self._rng = random.Random(seed)
        self._ids = EventIds(rng.getrandbits(64))
        self._clock = clock
        self.competitor_bias: dict[str, float] = {
            name: rng.uniform(-COMPETITOR_BIAS_RANGE, COMPETITOR_BIAS_RANGE) for name in COMPETITORS
        }
        # Start each walk at a draw from its stationary spread so there is no warm-up period.
        stationary_sd = VOLATILITY / (2 * REVERSION - REVERSION**2) ** 0.5
        self._quotes: list[_Quote] = []
        for product in PRODUCT_INFOS:
            for name in COMPETITORS:
                anchor = self.competitor_bias[name] + rng.gauss(0.0, PRODUCT_OFFSET_SD)
                self._quotes.append(_Quote(product, name, anchor, anchor + rng.gauss(0.0, stationary_sd)))

    def __iter__(self) -> CompetitorPriceGenerator:
        return self

    def __next__(self) -> SimEvent:
        rng = self._rng
        quote = self._quotes[int(rng.random() * len(self._quotes))]
        if quote.promotion_left:
            quote.promotion_left -= 1
            if not quote.promotion_left:
                quote.promotion_depth = 0.0
        elif rng.random() < PROMOTION_PROBABILITY:
            quote.promotion_depth = rng.uniform(*PROMOTION_DEPTH)
            quote.promotion_left = rng.randint(*PROMOTION_LENGTH)
        if rng.random() < CHANGE_PROBABILITY:
            level = quote.level + REVERSION * (quote.anchor - quote.level) + VOLATILITY * rng.gauss(0.0, 1.0)
            quote.level = min(_MAX_DRIFT, max(-_MAX_DRIFT, level))
        product = quote.product
        cents = max(1, round(product.base_cents * (1.0 + quote.level) * (1.0 - quote.promotion_depth)))
        difference_cents = cents - product.base_cents
        timestamp = self._clock()
        event = CompetitorPriceEvent(
            event_id=self._ids.at(timestamp),
            product_id=product.product_id,
            competitor_name=quote.competitor,
            competitor_price=Decimal(cents).scaleb(-2),
            our_price=product.base_price,
            price_difference=Decimal(difference_cents).scaleb(-2),
            # HALF_UP is PostgreSQL's round(numeric), so recomputing this downstream gives the same cents.
            price_difference_pct=(Decimal(difference_cents * 100) / product.base_cents_decimal).quantize(
                CENT, rounding=ROUND_HALF_UP
            ),
            timestamp=timestamp,
        )
        return Stream.COMPETITOR, product.key, event
