"""What the processor's windows accumulate, and the records they become. Pure logic: no broker here.

Window state lives in RocksDB and its changelog topic as JSON, so it holds only JSON types: times in epoch
milliseconds and money as decimal strings (never floats).

Both aggregations are idempotent against redelivery: a session remembers the event ids it counted, a
product's minute the last clickstream offset it counted. Kafka transactions should make that unnecessary,
but the local broker lets read-committed consumers see the records of a transaction aborted by a crash
(measured: 2 of 200 re-keyed clicks twice after a SIGKILL), and at-least-once replays a commit's worth.
A session also drops an event a producer retried onto the raw topic (same id, new offset); a product's
minute counts it again, as `product_metrics` does not (ingest drops it by id).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from quixstreams.dataframe.windows.aggregations import BaseAggregator

from pricing_platform.core.events import CartAbandonment, ClickstreamEvent, FunnelMinute, ShopperSession

# The key and value of the records that tell a quiet partition the time (see clock.py). They move the
# partition's watermark, so idle sessions close, and are otherwise ignored.
CLOCK_KEY: Final = "__clock__"
CLOCK_VALUE: Final = b'{"clock":true}'


class Clock:
    """A decoded clock record."""


CLOCK: Final = Clock()

SessionState = dict[str, Any]


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _add(a: str, b: Decimal | str) -> str:
    return str(Decimal(a) + Decimal(b))


def _union(first: list[str], then: list[str]) -> list[str]:
    return first + [p for p in then if p not in first]


def _earliest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


class SessionAggregator(BaseAggregator[SessionState]):
    """Everything a shopper session and its abandonment record need, from its click events."""

    @property
    def state_suffix(self) -> str:
        return "session-v1"

    def initialize(self) -> SessionState:
        return {
            "user": None, "device": None, "first": None, "last": None, "events": 0, "views": 0,
            "viewed": [], "carts": 0, "carted": [], "cart_value": "0", "first_cart": None,
            "last_cart": None, "purchases": 0, "revenue": "0", "ids": [],
        }  # fmt: skip

    def agg(self, old: SessionState, new: Any, timestamp: int) -> SessionState:
        if not isinstance(new, ClickstreamEvent):
            return old
        event_id = new.event_id.hex
        if event_id in old["ids"]:
            return old
        state = dict(old)
        state["ids"] = [*old["ids"], event_id]
        at = epoch_ms(new.timestamp)
        state["user"] = state["user"] or new.user_id
        state["device"] = state["device"] or new.device_type
        state["first"] = _earliest(state["first"], at)
        state["last"] = _latest(state["last"], at)
        state["events"] += 1
        product = new.product_id
        if new.event_type == "product_view" and product is not None:
            state["views"] += 1
            state["viewed"] = _union(state["viewed"], [product])
        elif new.event_type == "add_to_cart" and product is not None and new.product_price is not None:
            state["carts"] += 1
            state["carted"] = _union(state["carted"], [product])
            state["cart_value"] = _add(state["cart_value"], new.product_price)
            state["first_cart"] = _earliest(state["first_cart"], at)
            state["last_cart"] = _latest(state["last_cart"], at)
        elif new.event_type == "purchase" and new.product_price is not None:
            state["purchases"] += 1
            state["revenue"] = _add(state["revenue"], new.product_price)
        return state

    def merge(self, a: SessionState, b: SessionState) -> SessionState:
        """`a` is the earlier of two sessions an out-of-order event bridged (they never share an event: an
        event belongs to the one session it fell in)."""
        return {
            "user": a["user"] or b["user"],
            "device": a["device"] or b["device"],
            "first": _earliest(a["first"], b["first"]),
            "last": _latest(a["last"], b["last"]),
            "events": a["events"] + b["events"],
            "views": a["views"] + b["views"],
            "viewed": _union(a["viewed"], b["viewed"]),
            "carts": a["carts"] + b["carts"],
            "carted": _union(a["carted"], b["carted"]),
            "cart_value": _add(a["cart_value"], b["cart_value"]),
            "first_cart": _earliest(a["first_cart"], b["first_cart"]),
            "last_cart": _latest(a["last_cart"], b["last_cart"]),
            "purchases": a["purchases"] + b["purchases"],
            "revenue": _add(a["revenue"], b["revenue"]),
            "ids": _union(a["ids"], b["ids"]),
        }

    def result(self, value: SessionState) -> SessionState:
        return value


def session_record(session_id: str, state: SessionState) -> ShopperSession | None:
    """The closed session, or None for the clock's own key (or a state no click reached)."""
    if session_id == CLOCK_KEY or not state["events"]:
        return None
    return ShopperSession(
        session_id=uuid.UUID(session_id),
        user_id=state["user"],
        device_type=state["device"],
        started_at=_at(state["first"]),
        ended_at=_at(state["last"]),
        events=state["events"],
        product_views=state["views"],
        products_viewed=state["viewed"],
        cart_adds=state["carts"],
        purchases=state["purchases"],
        revenue=Decimal(state["revenue"]),
        converted=state["purchases"] > 0,
    )


def abandonment_record(
    session: ShopperSession, state: SessionState, min_carts: int
) -> CartAbandonment | None:
    """A session with `min_carts` or more add-to-carts and no purchase. It is closed, so the last add was
    followed by at least the session gap without a purchase."""
    if session.purchases or state["carts"] < min_carts:
        return None
    return CartAbandonment(
        session_id=session.session_id,
        user_id=session.user_id,
        device_type=session.device_type,
        first_cart_at=_at(state["first_cart"]),
        last_cart_at=_at(state["last_cart"]),
        cart_adds=state["carts"],
        products=state["carted"],
        cart_value=Decimal(state["cart_value"]),
    )


FunnelState = dict[str, Any]
_FUNNEL_FIELDS: Final = {"product_view": "views", "add_to_cart": "carts", "purchase": "purchases"}


class FunnelAggregator(BaseAggregator[FunnelState]):
    """Views, cart adds and purchases of one product in one window. Takes (event, offset) pairs: a key
    lives in one partition, whose offsets only grow, so an offset at or below the last counted is a
    replay."""

    @property
    def state_suffix(self) -> str:
        return "funnel-v1"

    def initialize(self) -> FunnelState:
        return {"product": None, "category": None, "views": 0, "carts": 0, "purchases": 0, "offset": -1}

    def agg(self, old: FunnelState, new: Any, timestamp: int) -> FunnelState:
        event, offset = new
        if offset <= old["offset"] or (field := _FUNNEL_FIELDS.get(event.event_type)) is None:
            return old
        new = event
        state = dict(old)
        state["offset"] = offset
        state["product"] = state["product"] or new.product_id
        state["category"] = state["category"] or new.product_category
        state[field] += 1
        return state

    def result(self, value: FunnelState) -> FunnelState:
        return value


def funnel_record(start_ms: int, state: FunnelState) -> FunnelMinute | None:
    if state["category"] is None:  # only cart removals this minute
        return None
    return FunnelMinute(
        product_id=state["product"],
        product_category=state["category"],
        minute=_at(start_ms),
        product_views=state["views"],
        cart_adds=state["carts"],
        purchases=state["purchases"],
    )
