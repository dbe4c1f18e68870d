"""The simulated market in time: shoppers, competitors and warehouses, producing the three raw streams
with event timestamps in simulated (or real) time.

`Market.advance(until)` returns every event due up to `until`, in time order. Sessions arrive as a Poisson
process whose rate follows the hour-of-day pattern (`MarketConfig.sessions_per_day` a day); a session walks
page views → product views → add to cart → checkout over a few minutes, and each product view decides,
with the prices shown at that moment (ours and the competitors'), whether the shopper means to buy
(`demand.ProductDemand.conversion`). A product out of stock in every warehouse cannot be added to a cart:
that intent is counted as lost demand. Every purchase ships as a one-unit `sale` from a warehouse with
stock; slots below their reorder point order a replenishment that arrives after a lead time in hours.
Competitors are scraped at random times, each scrape carrying the competitor's price then and ours.

Our prices change only through `set_price`, which the storefront calls when it applies a price change
from the platform's price feed: the market never reads the platform's tables.

Deterministic under a seed when prices change at the same simulated instants: every random choice draws
from a generator of its own (sessions, choices, scrapes, inventory), so one mechanism drawing more never
shifts another.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

from pricing_platform.core.catalog import (
    CENT,
    COMPETITORS,
    INITIAL_STOCK,
    PRODUCTS_BY_ID,
    WAREHOUSES,
    Category,
    Stream,
)
from pricing_platform.core.events import ClickstreamEvent, CompetitorPriceEvent, DeviceType, InventoryEvent
from pricing_platform.simulators.market import demand
from pricing_platform.simulators.market.competitors import Competitor, market_references
from pricing_platform.simulators.world import (
    PRODUCT_INFOS,
    EventIds,
    ProductInfo,
    SimEvent,
    derive_seed,
    random_uuid4,
    weighted_table,
)

# --- shoppers --------------------------------------------------------------------------------------------
VIEW_PRODUCTS_PROBABILITY: Final = 0.65
MORE_VIEWS_PROBABILITY: Final = 0.55
MAX_PRODUCT_VIEWS: Final = 8
CATEGORY_AFFINITY: Final = 0.8
BROWSE_BETWEEN_VIEWS_PROBABILITY: Final = 0.4
# Of the items added to a cart, this share is removed again and this share of carts is checked out: the
# add-to-cart probability is scaled so that P(purchase | view) is exactly the demand model's conversion.
REMOVE_FROM_CART_PROBABILITY: Final = 0.05
CHECKOUT_PROBABILITY: Final = 0.8
STEP_SECONDS: Final = (4.0, 40.0)  # pause between two events of a session
DEVICE_MIX: Final[dict[DeviceType, float]] = {"mobile": 0.6, "desktop": 0.3, "tablet": 0.1}
USERS: Final = 20_000

# --- warehouses ------------------------------------------------------------------------------------------
WAREHOUSE_SHARE: Final[tuple[float, ...]] = (0.5, 0.3, 0.2)
REORDER_POINT: Final = 150
TARGET_STOCK: Final = INITIAL_STOCK
CASE_PACK: Final = 10
LEAD_TIME_HOURS: Final = (24.0, 72.0)
RETURN_PROBABILITY: Final = 0.04  # of sales, coming back 1–5 days later
RETURN_DELAY_HOURS: Final = (24.0, 120.0)
DAMAGE_PER_SLOT_PER_DAY: Final = 0.03
ADJUSTMENTS_PER_SLOT_PER_DAY: Final = 0.03


@dataclass(frozen=True)
class MarketConfig:
    sessions_per_day: float
    # How often the price monitor scrapes each product × competitor (MARKET_SCRAPES_PER_HOUR).
    scrapes_per_hour: float
    # Multiplies every true elasticity (robustness runs of the backtest); 1.0 is the market as frozen.
    elasticity_scale: float = 1.0


@dataclass
class MarketCounters:
    """What happened, by product index: for the simulator's own metrics and the truth file's summary."""

    sessions: int = 0
    views: list[int] = field(default_factory=lambda: [0] * len(PRODUCT_INFOS))
    purchases: list[int] = field(default_factory=lambda: [0] * len(PRODUCT_INFOS))
    lost_to_stockout: list[int] = field(default_factory=lambda: [0] * len(PRODUCT_INFOS))


@dataclass(slots=True)
class _Session:
    session_id: uuid.UUID
    key: bytes
    user_id: str
    device: DeviceType
    favourite: tuple[ProductInfo, ...]
    views_left: int
    cart: list[ProductInfo]
    checked_out: bool = False


_N_WAREHOUSES: Final = len(WAREHOUSES)
_DEVICES: Final = weighted_table(list(DEVICE_MIX), list(DEVICE_MIX.values()))
_ALL_PRODUCTS: Final = weighted_table(PRODUCT_INFOS, [p.popularity for p in PRODUCT_INFOS])
_BY_CATEGORY: Final = {
    c.value: weighted_table(
        [p for p in PRODUCT_INFOS if p.category == c.value],
        [p.popularity for p in PRODUCT_INFOS if p.category == c.value],
    )
    for c in Category
}
_CATEGORY_WEIGHTS: Final = {
    c.value: sum(p.popularity for p in PRODUCT_INFOS if p.category == c.value) for c in Category
}
_CATEGORIES: Final = weighted_table(list(_CATEGORY_WEIGHTS), list(_CATEGORY_WEIGHTS.values()))
_WAREHOUSE_PICK: Final = weighted_table(range(_N_WAREHOUSES), list(WAREHOUSE_SHARE))


class Market:
    def __init__(self, seed: int, start: datetime, config: MarketConfig) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.seed = seed
        self.config = config
        self.start = start.astimezone(UTC)
        self.now = self.start
        self.counters = MarketCounters()
        self._sessions_rng = random.Random(derive_seed(seed, "market:sessions"))
        self._choices_rng = random.Random(derive_seed(seed, "market:choices"))
        self._scrapes_rng = random.Random(derive_seed(seed, "market:scrapes"))
        self._inventory_rng = random.Random(derive_seed(seed, "market:inventory"))
        self._click_ids = EventIds(derive_seed(seed, "market:click-ids"))
        self._stock_ids = EventIds(derive_seed(seed, "market:stock-ids"))
        self._price_ids = EventIds(derive_seed(seed, "market:price-ids"))
        self._users = tuple(f"U{i:05d}" for i in range(1, USERS + 1))

        references = [float(p.base_price) for p in PRODUCT_INFOS]
        costs = [float(PRODUCTS_BY_ID[p.product_id].unit_cost) for p in PRODUCT_INFOS]
        positions = random.Random(derive_seed(seed, "market:positions"))
        self.market_references = market_references(references, positions)
        self.competitors = [
            Competitor(
                name,
                self.market_references,
                costs,
                derive_seed(seed, f"market:competitor:{name}"),
                self.start,
                our_prices=references,
            )
            for name in COMPETITORS
        ]
        truth_rng = random.Random(derive_seed(seed, "market:truth"))
        self.demand: list[demand.ProductDemand] = []
        for i, product in enumerate(PRODUCT_INFOS):
            category = Category(product.category)
            self.demand.append(
                demand.calibrate(
                    product.product_id,
                    category,
                    references[i],
                    demand.draw_product_elasticity(category, truth_rng, config.elasticity_scale),
                    demand.BASE_CONVERSION[category],
                    [c.reference_price(i) for c in self.competitors],
                )
            )
        self.prices: list[Decimal] = [p.base_price for p in PRODUCT_INFOS]
        self._price_floats: list[float] = list(references)
        self.stock: list[int] = [INITIAL_STOCK] * (len(PRODUCT_INFOS) * _N_WAREHOUSES)
        self._on_order: set[int] = set()

        self._queue: list[tuple[float, int, Callable[[float], list[SimEvent]]]] = []
        self._seq = itertools.count()
        self._arrivals_until = 0.0  # seconds since start up to which session arrivals are drawn
        self._background_until = 0.0
        for i in range(len(PRODUCT_INFOS)):
            for c in range(len(self.competitors)):
                self._schedule(
                    self._scrapes_rng.expovariate(config.scrapes_per_hour / 3600), self._scrape(i, c)
                )

    # --- the platform's side -----------------------------------------------------------------------------

    def set_price(self, product_id: str, price: Decimal, at: datetime | None = None) -> None:
        """Show `price` for the product from `at` (default: the market's now) on."""
        index = _INDEX[product_id]
        self.prices[index] = price
        self._price_floats[index] = float(price)
        moment = at or self.now
        for competitor in self.competitors:
            competitor.observe_our_price(index, moment, float(price))

    def competitor_prices(self, index: int, at: datetime) -> list[float]:
        return [c.price(index, at) for c in self.competitors]

    # --- time ------------------------------------------------------------------------------------------

    def advance(self, until: datetime) -> list[SimEvent]:
        """Every event due after the market's now and up to `until`, in time order."""
        horizon = (until - self.start).total_seconds()
        self._draw_arrivals(horizon)
        self._draw_background(horizon)
        events: list[SimEvent] = []
        queue = self._queue
        while queue and queue[0][0] <= horizon:
            at, _, action = heapq.heappop(queue)
            self.now = self.start + timedelta(seconds=at)
            events.extend(action(at))
        self.now = until
        return events

    def _schedule(self, at: float, action: Callable[[float], list[SimEvent]]) -> None:
        heapq.heappush(self._queue, (at, next(self._seq), action))

    def _timestamp(self, at: float) -> datetime:
        return self.start + timedelta(seconds=at)

    # --- shoppers ----------------------------------------------------------------------------------------

    def _draw_arrivals(self, horizon: float) -> None:
        # Hour by hour: a Poisson number of sessions at the hour's rate, at uniform times within it.
        rng = self._sessions_rng
        while self._arrivals_until < horizon:
            begin = self._arrivals_until
            hour_start = self._timestamp(begin)
            next_hour = hour_start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            end = min((next_hour - self.start).total_seconds(), max(horizon, begin + 1.0))
            share = demand.hourly_share(hour_start.hour)
            expected = self.config.sessions_per_day * share * (end - begin) / 3600.0
            for _ in range(_poisson(rng, expected)):
                self._schedule(rng.uniform(begin, end), self._new_session)
            self._arrivals_until = end

    def _new_session(self, at: float) -> list[SimEvent]:
        rng = self._sessions_rng
        self.counters.sessions += 1
        session_id = random_uuid4(rng)
        views = 0
        if rng.random() < VIEW_PRODUCTS_PROBABILITY:
            views = 1
            while views < MAX_PRODUCT_VIEWS and rng.random() < MORE_VIEWS_PROBABILITY:
                views += 1
        session = _Session(
            session_id=session_id,
            key=str(session_id).encode(),
            user_id=self._users[int(rng.random() ** 2 * len(self._users))],
            device=_DEVICES[int(rng.random() * len(_DEVICES))],
            favourite=_BY_CATEGORY[_CATEGORIES[int(rng.random() * len(_CATEGORIES))]],
            views_left=views,
            cart=[],
        )
        self._schedule(at + rng.uniform(*STEP_SECONDS), self._session_step(session))
        return [self._click(at, session, "page_view", None)]

    def _session_step(self, session: _Session) -> Callable[[float], list[SimEvent]]:
        def step(at: float) -> list[SimEvent]:
            rng = self._sessions_rng
            later = at + rng.uniform(*STEP_SECONDS)
            if session.views_left > 0:
                session.views_left -= 1
                events = []
                if rng.random() < BROWSE_BETWEEN_VIEWS_PROBABILITY and session.views_left:
                    events.append(self._click(at, session, "page_view", None))
                table = session.favourite if rng.random() < CATEGORY_AFFINITY else _ALL_PRODUCTS
                product = table[int(rng.random() * len(table))]
                events.append(self._click(at, session, "product_view", product))
                if product not in session.cart and self._decides_to_buy(product, at):
                    if self._in_stock(product.index):
                        session.cart.append(product)
                        self._schedule(later, self._add_to_cart(session, product))
                        later += rng.uniform(*STEP_SECONDS)
                    else:
                        self.counters.lost_to_stockout[product.index] += 1
                self._schedule(later, step)
                return events
            if session.cart and not session.checked_out:
                session.checked_out = True
                return self._checkout(at, session)
            return []

        return step

    def _decides_to_buy(self, product: ProductInfo, at: float) -> bool:
        self.counters.views[product.index] += 1
        moment = self._timestamp(at)
        conversion = self.demand[product.index].conversion(
            self._price_floats[product.index], self.competitor_prices(product.index, moment)
        )
        add = min(1.0, conversion / (CHECKOUT_PROBABILITY * (1 - REMOVE_FROM_CART_PROBABILITY)))
        return self._choices_rng.random() < add

    def _add_to_cart(self, session: _Session, product: ProductInfo) -> Callable[[float], list[SimEvent]]:
        def add(at: float) -> list[SimEvent]:
            return [self._click(at, session, "add_to_cart", product)]

        return add

    def _checkout(self, at: float, session: _Session) -> list[SimEvent]:
        rng = self._choices_rng
        events: list[SimEvent] = []
        kept = []
        for product in session.cart:
            if rng.random() < REMOVE_FROM_CART_PROBABILITY:
                events.append(self._click(at, session, "remove_from_cart", product))
            else:
                kept.append(product)
        if not kept or rng.random() >= CHECKOUT_PROBABILITY:
            return events
        events.append(self._click(at, session, "page_view", None))  # the checkout page
        for product in kept:
            sale = self._ship(at, product.index)
            if sale is None:
                self.counters.lost_to_stockout[product.index] += 1  # sold out while in the cart
                continue
            self.counters.purchases[product.index] += 1
            events.append(self._click(at, session, "purchase", product))
            events.append(sale)
        return events

    def _click(self, at: float, session: _Session, event_type: str, product: ProductInfo | None) -> SimEvent:
        timestamp = self._timestamp(at)
        event = ClickstreamEvent(
            event_id=self._click_ids.at(timestamp),
            user_id=session.user_id,
            session_id=session.session_id,
            event_type=event_type,  # type: ignore[arg-type]
            product_id=product.product_id if product else None,
            product_name=product.name if product else None,
            product_category=product.category if product else None,
            product_price=self.prices[product.index] if product else None,
            device_type=session.device,
            timestamp=timestamp,
        )
        return Stream.CLICKSTREAM, product.key if product else session.key, event

    # --- competitors --------------------------------------------------------------------------------------

    def _scrape(self, index: int, competitor: int) -> Callable[[float], list[SimEvent]]:
        def scrape(at: float) -> list[SimEvent]:
            self._schedule(at + self._scrapes_rng.expovariate(self.config.scrapes_per_hour / 3600), scrape)
            timestamp = self._timestamp(at)
            theirs = Decimal(str(self.competitors[competitor].price(index, timestamp))).quantize(CENT)
            ours = self.prices[index]
            difference = theirs - ours
            product = PRODUCT_INFOS[index]
            event = CompetitorPriceEvent(
                event_id=self._price_ids.at(timestamp),
                product_id=product.product_id,
                competitor_name=COMPETITORS[competitor],
                competitor_price=theirs,
                our_price=ours,
                price_difference=difference,
                price_difference_pct=(difference * 100 / ours).quantize(CENT),
                timestamp=timestamp,
            )
            return [(Stream.COMPETITOR, product.key, event)]

        return scrape

    # --- warehouses ---------------------------------------------------------------------------------------

    def _in_stock(self, index: int) -> bool:
        base = index * _N_WAREHOUSES
        return any(self.stock[base + w] > 0 for w in range(_N_WAREHOUSES))

    def _ship(self, at: float, index: int) -> SimEvent | None:
        base = index * _N_WAREHOUSES
        slot = base + _WAREHOUSE_PICK[int(self._inventory_rng.random() * len(_WAREHOUSE_PICK))]
        if self.stock[slot] == 0:
            slot = max(range(base, base + _N_WAREHOUSES), key=self.stock.__getitem__)
            if self.stock[slot] == 0:
                return None
        if self._inventory_rng.random() < RETURN_PROBABILITY:
            delay = self._inventory_rng.uniform(*RETURN_DELAY_HOURS) * 3600
            self._schedule(at + delay, self._movement(slot, "stock_returned", 1))
        return self._apply(at, slot, "sale", -1)

    def _movement(self, slot: int, kind: str, quantity: int) -> Callable[[float], list[SimEvent]]:
        def move(at: float) -> list[SimEvent]:
            change = max(quantity, -self.stock[slot])  # never below zero
            return [self._apply(at, slot, kind, change)] if change else []

        return move

    def _restock(self, slot: int) -> Callable[[float], list[SimEvent]]:
        def arrive(at: float) -> list[SimEvent]:
            self._on_order.discard(slot)
            shortfall = TARGET_STOCK - self.stock[slot]
            if shortfall <= 0:
                return []
            return [self._apply(at, slot, "stock_received", -(-shortfall // CASE_PACK) * CASE_PACK)]

        return arrive

    def _draw_background(self, horizon: float) -> None:
        # Damage and count adjustments: Poisson per slot, day by day.
        rng = self._inventory_rng
        while self._background_until < horizon:
            begin = self._background_until
            end = begin + 86400.0
            for slot in range(len(self.stock)):
                for _ in range(_poisson(rng, DAMAGE_PER_SLOT_PER_DAY)):
                    size = 1 + int(rng.random() * 3)
                    self._schedule(rng.uniform(begin, end), self._movement(slot, "stock_damaged", -size))
                for _ in range(_poisson(rng, ADJUSTMENTS_PER_SLOT_PER_DAY)):
                    size = 1 + int(rng.random() * 3)
                    sign = -1 if rng.random() < 0.6 else 1
                    self._schedule(
                        rng.uniform(begin, end), self._movement(slot, "manual_adjustment", sign * size)
                    )
            self._background_until = end

    def _apply(self, at: float, slot: int, kind: str, quantity: int) -> SimEvent:
        level = self.stock[slot] + quantity
        self.stock[slot] = level
        if level < REORDER_POINT and slot not in self._on_order:
            self._on_order.add(slot)
            lead = self._inventory_rng.uniform(*LEAD_TIME_HOURS) * 3600
            self._schedule(at + lead, self._restock(slot))
        product = PRODUCT_INFOS[slot // _N_WAREHOUSES]
        timestamp = self._timestamp(at)
        event = InventoryEvent(
            event_id=self._stock_ids.at(timestamp),
            product_id=product.product_id,
            warehouse_id=WAREHOUSES[slot % _N_WAREHOUSES],
            event_type=kind,  # type: ignore[arg-type]
            quantity_change=quantity,
            timestamp=timestamp,
        )
        return Stream.INVENTORY, product.key, event


_INDEX: Final = {p.product_id: p.index for p in PRODUCT_INFOS}


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth for small means, a rounded normal for large ones)."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def product_index(product_id: str) -> int:
    return _INDEX[product_id]


def products() -> Sequence[ProductInfo]:
    return PRODUCT_INFOS
