"""Stock movements per product × warehouse, driven by a stock model so the stream stays consistent.

The generator keeps its own picture of every slot's stock, starting from `catalog.INITIAL_STOCK` (what the
database is migrated with), and never emits a movement that would take a slot below zero. A slot that
drops below the reorder point places an order that arrives as `stock_received` after a lead time counted
in movements, topping it back up to the target, so stock stays bounded however long it runs.
"""

from __future__ import annotations

import heapq
import random
from typing import Final

from pricing_platform.core.catalog import INITIAL_STOCK, WAREHOUSES, Stream
from pricing_platform.core.events import ClickstreamEvent, InventoryEvent, InventoryEventType
from pricing_platform.simulators.world import (
    PRODUCT_INDEX,
    PRODUCT_INFOS,
    Clock,
    EventIds,
    SimEvent,
    utc_now,
    weighted_table,
)

DEFAULT_REORDER_POINT: Final = 150
DEFAULT_LEAD_TIME_MOVEMENTS: Final = (50, 300)
CASE_PACK: Final = 10  # suppliers ship whole cases, so deliveries are multiples of this
# Returns and positive corrections may lift a slot this far above target + one case before they are
# turned away; it is what bounds stock when little is selling.
HEADROOM: Final = 25

# Movement mix when the generator produces its own sales (running alone): sales dominate.
MIX_WITH_SALES: Final[dict[InventoryEventType, float]] = {
    "sale": 0.82,
    "stock_returned": 0.07,
    "stock_damaged": 0.04,
    "manual_adjustment": 0.07,
}
# Alongside the clickstream, sales come from purchases only; the generator's own movements are the rest.
MIX_WITHOUT_SALES: Final[dict[InventoryEventType, float]] = {
    "stock_returned": 0.40,
    "stock_damaged": 0.25,
    "manual_adjustment": 0.35,
}
# Cycle counts find shrinkage more often than surplus.
ADJUSTMENT_DOWN_PROBABILITY: Final = 0.6
WAREHOUSE_SHARE: Final[dict[str, float]] = dict(zip(WAREHOUSES, (0.5, 0.3, 0.2), strict=True))

_SALE_QUANTITY: Final = weighted_table((1, 2, 3), (0.85, 0.11, 0.04))
_RETURN_QUANTITY: Final = weighted_table((1, 2), (0.9, 0.1))
_DAMAGE_QUANTITY: Final = weighted_table((1, 2, 3), (0.75, 0.2, 0.05))
_SALE_PRODUCTS: Final = weighted_table(
    [p.index for p in PRODUCT_INFOS], [p.sales_weight for p in PRODUCT_INFOS]
)
_WAREHOUSE_PICK: Final = weighted_table(range(len(WAREHOUSES)), list(WAREHOUSE_SHARE.values()))
_N_WAREHOUSES: Final = len(WAREHOUSES)


class InventoryGenerator:
    """Infinite iterator of `(Stream.INVENTORY, key, InventoryEvent)`, plus `sale_for(purchase)`.

    With `own_sales=False` (alongside the clickstream) the iterator emits restocks, returns, damage and
    adjustments only, and sales come solely from `sale_for`, one unit per purchase event.
    """

    def __init__(
        self,
        seed: int,
        clock: Clock = utc_now,
        *,
        own_sales: bool = True,
        initial_stock: int = INITIAL_STOCK,
        reorder_point: int = DEFAULT_REORDER_POINT,
        target_stock: int = INITIAL_STOCK,
        lead_time_movements: tuple[int, int] = DEFAULT_LEAD_TIME_MOVEMENTS,
    ) -> None:
        if not 1 <= reorder_point < target_stock:
            raise ValueError("need 1 <= reorder_point < target_stock")
        if initial_stock < 0:
            raise ValueError("initial_stock must not be negative")
        if not 0 <= lead_time_movements[0] <= lead_time_movements[1]:
            raise ValueError("lead_time_movements must be an ordered pair of non-negative ints")
        self._rng = random.Random(seed)
        self._ids = EventIds(self._rng.getrandbits(64))
        self._clock = clock
        self.own_sales = own_sales
        self.reorder_point = reorder_point
        self.target_stock = target_stock
        self.max_stock = max(initial_stock, target_stock + CASE_PACK - 1) + HEADROOM
        self._lead_min, self._lead_max = lead_time_movements
        mix = MIX_WITH_SALES if own_sales else MIX_WITHOUT_SALES
        self._mix = weighted_table(list(mix), list(mix.values()))
        self._stock = [initial_stock] * (len(PRODUCT_INFOS) * _N_WAREHOUSES)
        self._movements = 0
        # Orders as a heap of (due movement, order number, slot); `_on_order` maps slot → its live order
        # number, so an order that was expedited can be skipped lazily when it surfaces.
        self._orders: list[tuple[int, int, int]] = []
        self._on_order: dict[int, int] = {}
        self._order_number = 0
        for slot, level in enumerate(self._stock):
            self._reorder_if_low(slot, level)

    def __iter__(self) -> InventoryGenerator:
        return self

    # --- queries (for tests and monitoring) --------------------------------------------------------

    def stock(self, product_id: str, warehouse_id: str) -> int:
        return self._stock[PRODUCT_INDEX[product_id] * _N_WAREHOUSES + WAREHOUSES.index(warehouse_id)]

    def stock_levels(self) -> dict[tuple[str, str], int]:
        return {
            (p.product_id, wh): self._stock[p.index * _N_WAREHOUSES + w]
            for p in PRODUCT_INFOS
            for w, wh in enumerate(WAREHOUSES)
        }

    # --- generation --------------------------------------------------------------------------------

    def __next__(self) -> SimEvent:
        self._movements += 1
        delivery = self._due_delivery()
        if delivery is not None:
            return delivery
        rng = self._rng
        kind = self._mix[int(rng.random() * len(self._mix))]
        slot = (
            _SALE_PRODUCTS[int(rng.random() * len(_SALE_PRODUCTS))] * _N_WAREHOUSES
            + _WAREHOUSE_PICK[int(rng.random() * len(_WAREHOUSE_PICK))]
        )
        stock = self._stock[slot]
        if kind == "sale":
            return self._sale(slot, _SALE_QUANTITY[int(rng.random() * len(_SALE_QUANTITY))])
        if kind == "stock_returned":
            quantity = _RETURN_QUANTITY[int(rng.random() * len(_RETURN_QUANTITY))]
            if stock + quantity <= self.max_stock:
                return self._emit(slot, "stock_returned", quantity)
            kind = "stock_damaged"  # a full slot: record a write-off instead of overfilling it
        if kind == "stock_damaged":
            if stock > 0:
                quantity = min(stock, _DAMAGE_QUANTITY[int(rng.random() * len(_DAMAGE_QUANTITY))])
                return self._emit(slot, "stock_damaged", -quantity)
            kind = "manual_adjustment"
        magnitude = 1 + int(rng.random() * 5)
        down = rng.random() < ADJUSTMENT_DOWN_PROBABILITY
        if (down and stock > 0) or stock + magnitude > self.max_stock:
            return self._emit(slot, "manual_adjustment", -min(magnitude, stock))
        return self._emit(slot, "manual_adjustment", magnitude)

    def sale_for(self, purchase: ClickstreamEvent) -> SimEvent | None:
        """The one-unit `sale` that ships `purchase`, or None when no warehouse has the product in stock."""
        if purchase.event_type != "purchase" or purchase.product_id is None:
            raise ValueError(f"sale_for needs a purchase event, got {purchase.event_type}")
        self._movements += 1
        base = PRODUCT_INDEX[purchase.product_id] * _N_WAREHOUSES
        slot = base + _WAREHOUSE_PICK[int(self._rng.random() * len(_WAREHOUSE_PICK))]
        if self._stock[slot] == 0:
            # Ship from whichever warehouse holds the most, as an order router would.
            slot = max(range(base, base + _N_WAREHOUSES), key=self._stock.__getitem__)
            if self._stock[slot] == 0:
                return None
        return self._emit(slot, "sale", -1)

    def _sale(self, slot: int, quantity: int) -> SimEvent:
        stock = self._stock
        if stock[slot] == 0:
            base = slot - slot % _N_WAREHOUSES
            fallback = max(range(base, base + _N_WAREHOUSES), key=stock.__getitem__)
            if stock[fallback] == 0:
                # Sold out everywhere: the overdue order for this slot arrives now (expedited).
                return self._deliver(slot)
            slot = fallback
        return self._emit(slot, "sale", -min(quantity, stock[slot]))

    def _due_delivery(self) -> SimEvent | None:
        orders = self._orders
        while orders and orders[0][0] <= self._movements:
            _, number, slot = heapq.heappop(orders)
            if self._on_order.get(slot) != number:
                continue  # already delivered early
            if self._stock[slot] >= self.target_stock:
                del self._on_order[slot]  # returns refilled the slot meanwhile: the order is cancelled
                continue
            return self._deliver(slot)
        return None

    def _deliver(self, slot: int) -> SimEvent:
        self._on_order.pop(slot, None)
        shortfall = self.target_stock - self._stock[slot]  # positive: callers deliver only below target
        quantity = -(-shortfall // CASE_PACK) * CASE_PACK
        return self._emit(slot, "stock_received", quantity)

    def _emit(self, slot: int, kind: InventoryEventType, quantity: int) -> SimEvent:
        level = self._stock[slot] + quantity
        self._stock[slot] = level
        if quantity < 0:
            self._reorder_if_low(slot, level)
        product = PRODUCT_INFOS[slot // _N_WAREHOUSES]
        timestamp = self._clock()
        event = InventoryEvent(
            event_id=self._ids.at(timestamp),
            product_id=product.product_id,
            warehouse_id=WAREHOUSES[slot % _N_WAREHOUSES],
            event_type=kind,
            quantity_change=quantity,
            timestamp=timestamp,
        )
        return Stream.INVENTORY, product.key, event

    def _reorder_if_low(self, slot: int, level: int) -> None:
        if level >= self.reorder_point or slot in self._on_order:
            return
        self._order_number += 1
        due = self._movements + self._rng.randint(self._lead_min, self._lead_max)
        self._on_order[slot] = self._order_number
        heapq.heappush(self._orders, (due, self._order_number, slot))
