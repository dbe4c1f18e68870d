"""The closed loop in simulated time: a price cut applied through the real path (apply_price_change →
outbox → relay → broker → storefront) changes the units shoppers buy as the market's true demand function
predicts. Units are counted from the clickstream landed through the broker and the ingest workers; the
expected ratio comes from the truth (the demand function evaluated at the competitor prices that landed)."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest

from pricing_platform.core.settings import default_settings
from pricing_platform.simulation.run import SimulatedRun, apply_nothing
from pricing_platform.simulators.market.shop import product_index

pytestmark = pytest.mark.integration

PRODUCT = "P001"  # the most viewed phone: elasticity near the category's −1.9
SESSIONS_PER_DAY = 100_000
HOURS = 24  # of each period; the hour around the cut is left out of both
SEED = 20261130


def conversion_and_expected(
    conn: psycopg.Connection, run: SimulatedRun, start: object, end: object, price: float
) -> tuple[int, int, float]:
    """Purchases and product views of PRODUCT landed in [start, end), and the mean true conversion of
    those views at `price` and the competitor prices observed (landed) just before each view."""
    views = conn.execute(
        """
        SELECT v.event_time,
               (SELECT array_agg(p.competitor_price::float8 ORDER BY p.competitor_name)
                FROM (SELECT DISTINCT ON (competitor_name) competitor_name, competitor_price
                      FROM competitor_prices
                      WHERE product_id = %(product)s AND event_time <= v.event_time
                      ORDER BY competitor_name, event_time DESC) p)
        FROM clickstream_events v
        WHERE v.product_id = %(product)s AND v.event_type = 'product_view'
          AND v.event_time >= %(start)s AND v.event_time < %(end)s
        """,
        {"product": PRODUCT, "start": start, "end": end},
    ).fetchall()
    purchases = conn.execute(
        "SELECT count(*) FROM clickstream_events WHERE product_id = %s AND event_type = 'purchase' "
        "AND event_time >= %s AND event_time < %s",
        (PRODUCT, start, end),
    ).fetchone()[0]  # type: ignore[index]
    truth = run.market.demand[product_index(PRODUCT)]
    expected = [truth.conversion(price, comps) for _, comps in views if comps and len(comps) == 3]
    return purchases, len(views), sum(expected) / len(expected)


def test_a_ten_percent_cut_changes_units_as_the_true_demand_predicts() -> None:
    with SimulatedRun(
        default_settings(),
        seed=SEED,
        days=2 + 1 / HOURS,
        sessions_per_day=SESSIONS_PER_DAY,
        apply_policy=apply_nothing,  # prices move only by the cut below
        step=timedelta(hours=1),
    ) as run:
        base = float(run.market.prices[product_index(PRODUCT)])
        cut = (Decimal(str(base)) * Decimal("0.90")).quantize(Decimal("0.01"))
        steps = [run.start + run.step * (i + 1) for i in range(2 * HOURS + 1)]
        for until in steps[:HOURS]:
            run.run_step(until)
        cut_at = steps[HOURS - 1]
        version = run.set_price(PRODUCT, cut, "test", "a 10 % cut")
        assert version == 1
        for until in steps[HOURS:]:
            run.run_step(until)
        assert run.market.counters.lost_to_stockout[product_index(PRODUCT)] == 0, "no stock-out muddies it"
        with psycopg.connect(run.settings.database_conninfo) as conn:
            shown = conn.execute(
                "SELECT DISTINCT product_price FROM clickstream_events WHERE product_id = %s "
                "AND event_type = 'product_view' AND event_time > %s",
                (PRODUCT, cut_at + timedelta(minutes=5)),
            ).fetchall()
            assert shown == [(cut,)], "after the cut the storefront shows the new price"
            before = conversion_and_expected(conn, run, run.start, cut_at - timedelta(minutes=30), base)
            after = conversion_and_expected(conn, run, cut_at + timedelta(minutes=30), steps[-1], float(cut))
    (purchases_a, views_a, expected_a), (purchases_b, views_b, expected_b) = before, after
    measured = (purchases_b / views_b) / (purchases_a / views_a)
    expected = expected_b / expected_a
    half_width = 1.96 * math.sqrt(1 / purchases_a + 1 / purchases_b)
    low, high = measured * math.exp(-half_width), measured * math.exp(half_width)
    print(f"purchases {purchases_a}/{views_a} → {purchases_b}/{views_b}: measured ratio {measured:.3f} "
          f"[{low:.3f}, {high:.3f}], expected {expected:.3f}")  # fmt: skip
    assert purchases_a > 200 and purchases_b > 200, "enough purchases for the interval to mean something"
    assert low <= expected <= high, (
        f"expected ratio {expected:.3f}, measured {measured:.3f} [{low:.3f}, {high:.3f}]"
    )
    assert expected > 1.1, "the cut raises expected conversion: the test is sensitive to the price"
