"""Shopper sessions on the storefront: page views, product views, cart changes and purchases.

Each session's whole path is drawn when it starts (a script), and the generator then advances a random
one of many concurrent sessions per event, so the stream interleaves sessions the way a real storefront's
does while every session still reads in funnel order.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Final

from pricing_platform.core.catalog import Category, Stream
from pricing_platform.core.events import ClickEventType, ClickstreamEvent, DeviceType
from pricing_platform.simulators.world import (
    PRODUCT_INFOS,
    Clock,
    EventIds,
    ProductInfo,
    SimEvent,
    random_uuid4,
    utc_now,
    weighted_table,
)

# Funnel shape of a mid-size electronics storefront: most visits bounce off landing pages, a minority
# adds to cart, and roughly a third of carts check out.
VIEW_PRODUCTS_PROBABILITY: Final = 0.65
MORE_VIEWS_PROBABILITY: Final = 0.55  # chance of yet another product view: ~2.2 views per viewing session
MAX_PRODUCT_VIEWS: Final = 8
BROWSE_BETWEEN_VIEWS_PROBABILITY: Final = 0.4  # back to a listing page between two product pages
CATEGORY_AFFINITY: Final = 0.8  # a shopper mostly compares products of the category they came for
ADD_TO_CART_PROBABILITY: Final = 0.30
EXTRA_ADD_PROBABILITY: Final = 0.2
REMOVE_FROM_CART_PROBABILITY: Final = 0.12
PURCHASE_PROBABILITY: Final = 0.38

DEVICE_MIX: Final[dict[DeviceType, float]] = {"mobile": 0.6, "desktop": 0.3, "tablet": 0.1}
DEFAULT_USERS: Final = 3000
DEFAULT_CONCURRENT_SESSIONS: Final = 200

_CATEGORY_WEIGHTS: Final[dict[str, float]] = {
    category.value: sum(p.popularity for p in PRODUCT_INFOS if p.category == category.value)
    for category in Category
}

_ALL_PRODUCTS: Final = weighted_table(PRODUCT_INFOS, [p.popularity for p in PRODUCT_INFOS])
_BY_CATEGORY: Final[dict[str, tuple[ProductInfo, ...]]] = {
    category.value: weighted_table(
        [p for p in PRODUCT_INFOS if p.category == category.value],
        [p.popularity for p in PRODUCT_INFOS if p.category == category.value],
    )
    for category in Category
}
_CATEGORY_TABLE: Final = weighted_table(list(_CATEGORY_WEIGHTS), list(_CATEGORY_WEIGHTS.values()))
_DEVICE_TABLE: Final[tuple[DeviceType, ...]] = weighted_table(list(DEVICE_MIX), list(DEVICE_MIX.values()))

_Step = tuple[ClickEventType, ProductInfo | None]


@dataclass(slots=True)
class _Session:
    session_id: uuid.UUID
    key: bytes
    user_id: str
    device: DeviceType
    script: list[_Step]  # reversed, so pop() yields the next step in O(1)


class ClickstreamGenerator:
    """Infinite iterator of `(Stream.CLICKSTREAM, key, ClickstreamEvent)`.

    `users` is the size of the shopper pool; low user numbers visit far more often than high ones, so
    repeat visits are common. `concurrent_sessions` is how many sessions are open at once.
    """

    def __init__(
        self,
        seed: int,
        clock: Clock = utc_now,
        *,
        users: int = DEFAULT_USERS,
        concurrent_sessions: int = DEFAULT_CONCURRENT_SESSIONS,
    ) -> None:
        if users < 1 or concurrent_sessions < 1:
            raise ValueError("users and concurrent_sessions must be at least 1")
        self._rng = random.Random(seed)
        self._ids = EventIds(self._rng.getrandbits(64))
        self._clock = clock
        self._user_ids = tuple(f"U{i:05d}" for i in range(1, users + 1))
        self.sessions_started = 0
        self._sessions = [self._new_session() for _ in range(concurrent_sessions)]

    def __iter__(self) -> ClickstreamGenerator:
        return self

    def __next__(self) -> SimEvent:
        sessions = self._sessions
        i = int(self._rng.random() * len(sessions))
        session = sessions[i]
        event_type, product = session.script.pop()
        if not session.script:
            sessions[i] = self._new_session()
        timestamp = self._clock()
        if product is None:
            event = ClickstreamEvent(
                event_id=self._ids.at(timestamp),
                user_id=session.user_id,
                session_id=session.session_id,
                event_type=event_type,
                product_id=None,
                product_name=None,
                product_category=None,
                product_price=None,
                device_type=session.device,
                timestamp=timestamp,
            )
            return Stream.CLICKSTREAM, session.key, event
        event = ClickstreamEvent(
            event_id=self._ids.at(timestamp),
            user_id=session.user_id,
            session_id=session.session_id,
            event_type=event_type,
            product_id=product.product_id,
            product_name=product.name,
            product_category=product.category,
            product_price=product.base_price,
            device_type=session.device,
            timestamp=timestamp,
        )
        return Stream.CLICKSTREAM, product.key, event

    def _new_session(self) -> _Session:
        rng = self._rng
        self.sessions_started += 1
        users = self._user_ids
        # Squaring a uniform draw skews visits toward low user numbers: a loyal core returns often.
        user_id = users[int(rng.random() ** 2 * len(users))]
        session_id = random_uuid4(rng)
        device = _DEVICE_TABLE[int(rng.random() * len(_DEVICE_TABLE))]
        script: list[_Step] = [("page_view", None)]
        if rng.random() < VIEW_PRODUCTS_PROBABILITY:
            self._browse(rng, script)
        script.reverse()
        return _Session(session_id, str(session_id).encode(), user_id, device, script)

    @staticmethod
    def _browse(rng: random.Random, script: list[_Step]) -> None:
        favourite = _BY_CATEGORY[_CATEGORY_TABLE[int(rng.random() * len(_CATEGORY_TABLE))]]
        views = 1
        while views < MAX_PRODUCT_VIEWS and rng.random() < MORE_VIEWS_PROBABILITY:
            views += 1
        # Deciding up front (and pinning the first add to one view) makes the share of cart sessions
        # among viewing sessions exactly ADD_TO_CART_PROBABILITY.
        first_add = int(rng.random() * views) if rng.random() < ADD_TO_CART_PROBABILITY else -1
        cart: list[ProductInfo] = []
        for i in range(views):
            if i and rng.random() < BROWSE_BETWEEN_VIEWS_PROBABILITY:
                script.append(("page_view", None))
            table = favourite if rng.random() < CATEGORY_AFFINITY else _ALL_PRODUCTS
            product = table[int(rng.random() * len(table))]
            script.append(("product_view", product))
            adds = i == first_add or (0 <= first_add < i and rng.random() < EXTRA_ADD_PROBABILITY)
            if adds and product not in cart:
                script.append(("add_to_cart", product))
                cart.append(product)
        if not cart:
            return
        if rng.random() < REMOVE_FROM_CART_PROBABILITY:
            script.append(("remove_from_cart", cart.pop(int(rng.random() * len(cart)))))
        if cart and rng.random() < PURCHASE_PROBABILITY:
            script.append(("page_view", None))  # the checkout page
            script.extend(("purchase", product) for product in cart)
