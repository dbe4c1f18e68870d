"""The simulated market's pure parts: the demand model is calibrated to its truth, competitors follow their
strategies in simulated time, the world produces valid, deterministic events that answer our prices, and
the truth stays out of the platform."""

from __future__ import annotations

import ast
import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from pricing_platform.core.catalog import Category
from pricing_platform.core.events import ClickstreamEvent, CompetitorPriceEvent
from pricing_platform.simulators.market import demand
from pricing_platform.simulators.market.competitors import FOLLOW_LAG, FOLLOW_UNDERCUT, Competitor
from pricing_platform.simulators.market.shop import Market, MarketConfig, product_index
from pricing_platform.simulators.market.truth import category_elasticities, truth
from pricing_platform.simulators.world import contract_violation_of

START = datetime(2026, 11, 1, tzinfo=UTC)
PROJECT = Path(__file__).resolve().parents[2]


def config(sessions: float = 40_000, scale: float = 1.0) -> MarketConfig:
    return MarketConfig(sessions_per_day=sessions, scrapes_per_hour=12.0, elasticity_scale=scale)


@pytest.mark.parametrize("category", list(Category))
def test_demand_is_calibrated_to_its_true_elasticity_and_conversion(category: Category) -> None:
    competitors = [100.0 * 0.97, 100.0 * 1.04, 100.0 * 1.01]
    product = demand.calibrate("X", category, 100.0, -1.7, 0.04, competitors)
    assert product.conversion(100.0, competitors) == pytest.approx(0.04, rel=1e-9)
    assert product.elasticity_at(100.0, competitors) == pytest.approx(-1.7, rel=1e-9)
    # The same elasticity, numerically: d ln q / d ln p around the reference.
    up, down = product.conversion(100.5, competitors), product.conversion(99.5, competitors)
    numeric = (math.log(up) - math.log(down)) / (math.log(100.5) - math.log(99.5))
    assert numeric == pytest.approx(-1.7, rel=1e-3)


def test_demand_falls_with_our_price_and_rises_with_the_competitors() -> None:
    competitors = [95.0, 104.0, 101.0]
    product = demand.calibrate("X", Category.PHONES, 100.0, -1.9, 0.03, competitors)
    assert (
        product.conversion(90, competitors)
        > product.conversion(100, competitors)
        > product.conversion(110, competitors)
    )
    assert product.conversion(100, [c * 0.8 for c in competitors]) < product.conversion(100, competitors)


def test_category_elasticities_are_realistic_and_products_scatter_around_them() -> None:
    assert all(-2.5 <= value <= -0.8 for value in demand.CATEGORY_ELASTICITY.values())
    market = Market(3, START, config())
    by_category = category_elasticities(market)
    for category, value in by_category.items():
        products = [d.elasticity for d in market.demand if d.category.value == category]
        assert min(products) <= value <= max(products)
        assert value == pytest.approx(demand.CATEGORY_ELASTICITY[Category(category)], rel=0.15)
    scaled = Market(3, START, config(scale=1.3))
    assert [d.elasticity for d in scaled.demand] == pytest.approx([1.3 * d.elasticity for d in market.demand])


def test_the_follower_matches_our_cut_after_its_lag_and_raises_back_with_us() -> None:
    follower = Competitor("TechMart", [100.0], [80.0], seed=1, start=START)
    before = follower.price(0, START + timedelta(hours=1))
    cut_at = START + timedelta(hours=2)
    follower.observe_our_price(0, cut_at, 90.0)
    assert follower.price(0, cut_at + FOLLOW_LAG - timedelta(minutes=1)) == before, "not before the lag"
    assert follower.price(0, cut_at + FOLLOW_LAG) == pytest.approx(90.0 * (1 - FOLLOW_UNDERCUT), abs=0.01)
    follower.observe_our_price(0, cut_at + timedelta(hours=5), 100.0)
    assert follower.price(0, cut_at + timedelta(hours=5) + FOLLOW_LAG) == before, "back to its anchor"


def test_the_premium_shop_runs_promotions_and_the_walker_reverts_to_its_anchor() -> None:
    premium = Competitor("GadgetZone", [100.0] * 20, [80.0] * 20, seed=2, start=START)
    hours = [START + timedelta(hours=h) for h in range(24 * 30)]
    prices = [premium.price(i, t) for i in range(20) for t in hours]
    assert max(prices) == pytest.approx(max(premium.anchors), abs=0.01)
    assert min(prices) < 0.9 * min(premium.anchors), "some promotion 10–25 % off"
    walker = Competitor("ElectroHub", [100.0], [80.0], seed=3, start=START)
    walk = [walker.price(0, t) for t in hours]
    assert abs(sum(walk) / len(walk) - walker.anchors[0]) < 3
    assert len(set(walk)) > 100


def test_reading_prices_more_often_does_not_change_them() -> None:
    often, rarely = (
        Competitor(name, [100.0] * 5, [80.0] * 5, seed=9, start=START)
        for name in ("GadgetZone", "GadgetZone")
    )
    for minute in range(0, 3 * 24 * 60, 7):
        often.price(minute % 5, START + timedelta(minutes=minute))
    moment = START + timedelta(days=3)
    assert [often.price(i, moment) for i in range(5)] == [rarely.price(i, moment) for i in range(5)]


def test_a_day_of_the_market_is_valid_ordered_and_follows_the_hour_of_day() -> None:
    market = Market(7, START, config())
    events = market.advance(START + timedelta(days=1))
    assert [contract_violation_of(e) for _, _, e in events if contract_violation_of(e)] == []
    stamps = [e.timestamp for _, _, e in events]
    assert stamps == sorted(stamps) and stamps[0] > START and stamps[-1] <= START + timedelta(days=1)
    sessions_by_hour = Counter(
        e.timestamp.hour
        for _, _, e in events
        if isinstance(e, ClickstreamEvent) and e.event_type == "page_view"
    )
    assert sessions_by_hour[20] > 3 * sessions_by_hour[3], "evenings busy, nights quiet"
    purchases = sum(market.counters.purchases)
    assert 0.03 * market.counters.sessions < purchases < 0.09 * market.counters.sessions


def test_the_same_seed_gives_the_same_market() -> None:
    def content(seed: int) -> list[tuple[object, ...]]:
        events = Market(seed, START, config()).advance(START + timedelta(hours=3))
        return [
            (s, k, e.timestamp, getattr(e, "product_id", None), getattr(e, "event_type", None))
            for s, k, e in events
        ]

    assert content(5) == content(5)
    assert content(5) != content(6)


def test_our_price_change_reaches_views_purchases_and_scrapes() -> None:
    market = Market(11, START, config(sessions=400_000))
    market.advance(START + timedelta(hours=1))
    market.set_price("P001", Decimal("799.99"))
    later = market.advance(START + timedelta(hours=2))
    shown = {
        e.product_price for _, _, e in later if isinstance(e, ClickstreamEvent) and e.product_id == "P001"
    }
    assert shown == {Decimal("799.99")}
    ours = {
        e.our_price for _, _, e in later if isinstance(e, CompetitorPriceEvent) and e.product_id == "P001"
    }
    assert ours == {Decimal("799.99")}


def test_sold_out_products_cannot_be_bought_and_count_as_lost_demand() -> None:
    market = Market(12, START, config(sessions=400_000))
    index = product_index("P028")
    for slot in range(index * 3, index * 3 + 3):
        market.stock[slot] = 0
        market._on_order.add(slot)  # no restock during the test
    events = market.advance(START + timedelta(hours=6))
    bought = [
        e
        for _, _, e in events
        if isinstance(e, ClickstreamEvent)
        and e.product_id == "P028"
        and e.event_type in ("add_to_cart", "purchase")
    ]
    assert bought == []
    assert market.counters.lost_to_stockout[index] > 0


def test_the_truth_file_describes_the_hidden_market() -> None:
    market = Market(13, START, config())
    written = truth(market)
    assert written["seed"] == 13 and set(written["products"]) == {d.product_id for d in market.demand}
    assert set(written["competitors"]) == {"TechMart", "GadgetZone", "ElectroHub"}
    assert written["products"]["P001"]["elasticity_at_reference"] == market.demand[0].elasticity


def test_no_platform_code_reads_the_truth() -> None:
    # Only the simulators (which write it), the simulation runner (which hands it to whoever scores) and
    # the CLI (which passes --truth-file on to them) may touch the market's truth; the platform's modules
    # import nothing of the simulated market (also an import-linter contract).
    allowed = {"simulators", "simulation", "cli.py"}
    offenders = []
    for path in (PROJECT / "pricing_platform").rglob("*.py"):
        if path.relative_to(PROJECT / "pricing_platform").parts[0] in allowed:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in getattr(node, "names", [])]
                if isinstance(node, ast.Import)
                else []
            )
            offenders += [
                f"{path.name}: {n}" for n in names if n.startswith("pricing_platform.simulators.market")
            ]
        if re.search(r"truth[_ -]file|truth\.json|write_truth", path.read_text()):
            offenders.append(f"{path.name}: handles the market's truth file")
    assert offenders == []


def test_rng_streams_are_independent() -> None:
    # More sessions must not move the competitors' prices or the truth.
    a, b = Market(21, START, config(4_000)), Market(21, START, config(8_000))
    assert [d.elasticity for d in a.demand] == [d.elasticity for d in b.demand]
    moment = START + timedelta(days=2)
    a.advance(moment)
    b.advance(moment)
    assert [c.price(0, moment) for c in a.competitors] == [c.price(0, moment) for c in b.competitors]
