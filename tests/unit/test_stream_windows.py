"""The stream processor's window logic and clock rule, without a broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pricing_platform.core.catalog import PRODUCTS
from pricing_platform.core.events import ClickstreamEvent, FunnelMinute, ShopperSession, contract_violation
from pricing_platform.streaming.clock import InputProgress, time_to_tell
from pricing_platform.streaming.windows import (
    CLOCK,
    CLOCK_KEY,
    FunnelAggregator,
    SessionAggregator,
    abandonment_record,
    funnel_record,
    session_record,
)

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PRODUCT = PRODUCTS[0]
SESSION = uuid.uuid4()


def click(kind: str, seconds: int, product: str | None = PRODUCT.product_id) -> ClickstreamEvent:
    return ClickstreamEvent(
        event_id=uuid.uuid4(),
        user_id="u1",
        session_id=SESSION,
        event_type=kind,  # type: ignore[arg-type]
        product_id=None if kind == "page_view" else product,
        product_name=None if kind == "page_view" else PRODUCT.name,
        product_category=None if kind == "page_view" else PRODUCT.category,  # type: ignore[arg-type]
        product_price=None if kind == "page_view" else PRODUCT.base_price,
        device_type="tablet",
        timestamp=T0 + timedelta(seconds=seconds),
    )


def run(aggregator: SessionAggregator, events: list) -> dict:
    state = aggregator.initialize()
    for event in events:
        state = aggregator.agg(state, event, 0)
    return state


def test_a_session_counts_each_event_once_whatever_is_replayed() -> None:
    agg = SessionAggregator()
    events = [click("page_view", 0), click("product_view", 5), click("add_to_cart", 9), click("purchase", 20)]
    state = run(agg, [*events, events[2], CLOCK, events[0]])
    session = session_record(str(SESSION), state)
    assert session is not None
    assert (session.events, session.product_views, session.cart_adds, session.purchases) == (4, 1, 1, 1)
    assert session.revenue == PRODUCT.base_price and session.converted
    assert (session.started_at, session.ended_at) == (T0, T0 + timedelta(seconds=20))
    assert session.products_viewed == [PRODUCT.product_id]
    assert abandonment_record(session, state, min_carts=1) is None  # it bought


def test_two_sessions_bridged_by_a_late_event_merge_into_one() -> None:
    agg = SessionAggregator()
    first = run(agg, [click("product_view", 0), click("add_to_cart", 1)])
    second = run(agg, [click("add_to_cart", 100), click("add_to_cart", 101)])
    merged = agg.merge(first, second)
    session = session_record(str(SESSION), merged)
    assert session is not None and session.cart_adds == 3 and session.events == 4
    abandonment = abandonment_record(session, merged, min_carts=3)
    assert abandonment is not None
    assert abandonment.cart_value == PRODUCT.base_price * 3
    assert (abandonment.first_cart_at, abandonment.last_cart_at) == (
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=101),
    )
    assert abandonment_record(session, merged, min_carts=4) is None


def test_the_clock_key_never_becomes_a_session() -> None:
    agg = SessionAggregator()
    assert session_record(CLOCK_KEY, run(agg, [CLOCK, CLOCK])) is None


def test_a_products_minute_ignores_replayed_offsets() -> None:
    agg = FunnelAggregator()
    state = agg.initialize()
    for offset, kind in [(10, "product_view"), (11, "add_to_cart"), (11, "add_to_cart"), (9, "product_view"),
                         (12, "remove_from_cart"), (13, "purchase")]:  # fmt: skip
        state = agg.agg(state, (click(kind, 0), offset), 0)
    minute = funnel_record(int(T0.timestamp() * 1000), state)
    assert minute == FunnelMinute(PRODUCT.product_id, PRODUCT.category, T0, 1, 1, 1)


@pytest.mark.parametrize(
    ("newest", "read_ago", "told"),
    [
        (None, 1000.0, None),  # nothing read: maybe a backlog still to come
        (5000.0, 10.0, 5000.0 - 300),  # live: behind the input by the lag
        (5000.0, 400.0, 10_000.0 - 300),  # quiet shop: the wall clock
    ],
)
def test_the_clock_follows_the_input_and_the_wall_clock_only_when_quiet(
    newest: float | None, read_ago: float, told: float | None
) -> None:
    progress = InputProgress()
    progress.newest_event_s = newest
    progress.read_at_s = 10_000.0 - read_ago
    assert time_to_tell(progress, lag_s=300, quiet_s=300, now_s=10_000.0) == told


def test_stream_outputs_are_checked_against_the_contract() -> None:
    good = ShopperSession(
        SESSION, "u1", "mobile", T0, T0, 1, 1, [PRODUCT.product_id], 0, 0, Decimal(0), False
    )
    known = {PRODUCT.product_id}
    assert contract_violation(good, known_products=known, warehouses=(), competitors=()) is None
    backwards = ShopperSession(SESSION, "u1", "mobile", T0, T0 - timedelta(seconds=1), 1, 0, [], 0, 0,
                               Decimal(0), False)  # fmt: skip
    assert "before it starts" in contract_violation(
        backwards, known_products=known, warehouses=(), competitors=()
    )
    odd = FunnelMinute(PRODUCT.product_id, PRODUCT.category, T0 + timedelta(seconds=5), 1, 0, 0)
    assert "does not start a minute" in contract_violation(
        odd, known_products=known, warehouses=(), competitors=()
    )


def test_an_offset_handed_over_again_is_processed_but_not_stored_twice() -> None:
    from quixstreams.checkpointing.checkpoint import BaseCheckpoint

    from pricing_platform.streaming import metrics
    from pricing_platform.streaming.processor import _tolerate_redelivery

    _tolerate_redelivery()
    _tolerate_redelivery()  # once is enough, however often a processor starts
    checkpoint = object.__new__(BaseCheckpoint)
    checkpoint._tp_offsets, checkpoint._starting_tp_offsets, checkpoint._total_offsets_processed = {}, {}, 0
    before = metrics.REDELIVERED._value.get()
    for offset in (523, 525, 523, 525, 526):
        checkpoint.store_offset("raw.competitor_prices", 1, offset)
    assert checkpoint._tp_offsets == {("raw.competitor_prices", 1): 526}
    assert checkpoint._total_offsets_processed == 3
    assert metrics.REDELIVERED._value.get() - before == 2
