"""Undercut detection per product × competitor (the stream processor's state) and the repricer's rounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pricing_platform.core.events import CompetitorPriceEvent, Undercut
from pricing_platform.pricing.repricer import rounds
from pricing_platform.streaming.undercuts import PairState, Thresholds, observe
from tests.support.factories import price as competitor_price

OURS = Decimal("100.00")
T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
THRESHOLDS = Thresholds(open_pct=10.0, clear_pct=7.0)


def scrape(price: str, minutes: float, ours: Decimal = OURS) -> CompetitorPriceEvent:
    return competitor_price("P001", "TechMart", price, at=T0 + timedelta(minutes=minutes), ours=ours)


def run(prices: list[tuple[str, float]]) -> tuple[PairState | None, list[Undercut | None]]:
    state: PairState | None = None
    found = []
    for price, minutes in prices:
        new, undercut = observe(state, scrape(price, minutes), THRESHOLDS)
        state = new if new is not None else state
        found.append(undercut)
    return state, found


def states(found: list[Undercut | None]) -> list[str | None]:
    return [u.state if u else None for u in found]


def test_opens_above_the_threshold_deepens_on_a_lower_price_and_clears_below_the_lower_one() -> None:
    _, found = run([("95", 0), ("89", 5), ("88", 10), ("91", 15), ("89.5", 20), ("92", 25), ("93.5", 30)])
    # 5 % → nothing; 11 % → opened; lower → deepened; 9 % (between the thresholds) holds; 10.5 %, lower
    # than the 91 before → deepened; 8 % holds; 6.5 % → cleared.
    assert states(found) == [None, "opened", "deepened", None, "deepened", None, "cleared"]
    opened = found[1]
    assert opened is not None
    assert opened.gap_pct == Decimal("11.00") and opened.previous_price == Decimal("95")
    assert opened.competitor_price == Decimal("89") and opened.our_price == OURS


def test_a_price_exactly_at_the_threshold_does_not_open() -> None:
    _, found = run([("90", 0), ("90", 1)])
    assert states(found) == [None, None]


def test_the_first_observation_can_open_and_has_no_previous_price() -> None:
    _, [first] = run([("80", 0)])
    assert first is not None and first.state == "opened" and first.previous_price is None
    assert first.changes_last_hour == 0


def test_velocity_counts_the_price_changes_of_the_last_hour() -> None:
    # Changes at 10, 20, 50 and 80 minutes; the one at 85 is not a change (same price).
    state, _ = run([("99", 0), ("98", 10), ("97", 20), ("97", 30), ("96", 50), ("95", 80), ("95", 85)])
    assert state is not None
    # At 85 the hour back reaches 25: the changes at 50 and 80.
    assert state["changes"] == [int((T0 + timedelta(minutes=m)).timestamp() * 1000) for m in (50, 80)]
    _, found = run([("99", 0), ("98", 10), ("97", 20), ("80", 30)])
    assert found[-1] is not None and found[-1].changes_last_hour == 3  # 10, 20 and this one


def test_an_older_observation_changes_nothing() -> None:
    state, _ = run([("80", 10)])
    new, undercut = observe(state, scrape("99", 5), THRESHOLDS)
    assert new is None and undercut is None


def test_our_price_as_the_scrape_saw_it_decides() -> None:
    state, [opened] = run([("85", 0)])
    assert opened is not None
    # We lowered our price to 90: the same competitor price is now 5.6 % below us.
    _, cleared = observe(state, scrape("85", 5, ours=Decimal("90")), THRESHOLDS)
    assert cleared is not None and cleared.state == "cleared"


def test_rounds_price_each_product_once_per_cycle_in_arrival_order() -> None:
    def undercut(product: str) -> Undercut:
        event = scrape("80", 0)
        _, found = observe(None, event, THRESHOLDS)
        assert found is not None
        return Undercut(**{**{f: getattr(found, f) for f in found.__struct_fields__}, "product_id": product})

    a1, b1, a2, c1, a3 = (undercut(p) for p in ("A", "B", "A", "C", "A"))
    assert rounds([a1, b1, a2, c1, a3]) == [[a1, b1, c1], [a2], [a3]]
    assert rounds([]) == []
