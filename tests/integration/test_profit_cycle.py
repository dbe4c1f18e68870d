"""A pricing cycle with the profit strategy for one category, on a real PostgreSQL: the inputs it reads
(estimates, stock, recent views, the audit trail and the scrapes for the price-war guard), the decisions
it writes and which strategy made each."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from pricing_platform.core import tables
from pricing_platform.core.catalog import COMPETITORS, PRODUCTS_BY_ID
from pricing_platform.pricing.cycle import run_cycle
from pricing_platform.pricing.rules import PricingRules

pytestmark = pytest.mark.integration

PROFIT_PHONES = PricingRules.defaults().model_copy(update={"strategies": {"phones": "profit"}})


def scrape(
    conn: psycopg.Connection, pid: str, competitor: str, theirs: float, ours: float, at: datetime
) -> None:
    values = (
        uuid.uuid4(),
        pid,
        competitor,
        theirs,
        ours,
        theirs - ours,
        round((theirs - ours) / ours * 100, 2),
        at,
    )
    conn.execute(
        "INSERT INTO competitor_prices (event_id, product_id, competitor_name, competitor_price, our_price, "
        "price_difference, price_difference_pct, event_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        values,
    )
    conn.execute(
        "INSERT INTO competitor_prices_latest (product_id, competitor_name, event_id, competitor_price, "
        "our_price, price_difference, price_difference_pct, event_time) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (product_id, competitor_name) DO UPDATE "
        "SET competitor_price = excluded.competitor_price, our_price = excluded.our_price, "
        "event_time = excluded.event_time",
        (pid, competitor, *values[:1], *values[3:]),
    )


def views(conn: psycopg.Connection, pid: str, count: int, purchases: int, now: datetime) -> None:
    product = PRODUCTS_BY_ID[pid]
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY clickstream_events (event_id, user_id, session_id, event_type, product_id, product_name, "
            "product_category, product_price, device_type, event_time) FROM STDIN"
        ) as copy,
    ):
        for i in range(count + purchases):
            kind = "product_view" if i < count else "purchase"
            at = now - timedelta(hours=23) + timedelta(seconds=30 * i)
            copy.write_row((uuid.uuid4(), "U1", uuid.uuid4(), kind, pid, product.name, product.category.value,
                            product.base_price, "mobile", at))  # fmt: skip


def estimate(
    conn: psycopg.Connection, scope: str, subject: str, b: float, se: float, conversion: float | None
) -> None:
    conn.execute(
        f"INSERT INTO {tables.DEMAND_ESTIMATES} (scope, subject, category, elasticity, std_error, ci_low, "
        "ci_high, ci_level, source, views, purchases, price_points, price_sd_pct, conversion, note, "
        "window_start, "
        "window_end) VALUES (%s, %s, 'phones', %s, %s, %s, %s, 0.9, 'own', 1000, 50, 3, 4.0, %s, 'test', "
        "now() - interval '28 days', now())",
        (scope, subject, b, se, b - 1.645 * se, b + 1.645 * se, conversion),
    )


def test_profit_category_is_priced_by_profit_and_the_rest_by_rules(database: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(database, autocommit=True) as conn:
        for pid in ("P001", "P002", "P003", "P007"):
            base = float(PRODUCTS_BY_ID[pid].base_price)
            for competitor in COMPETITORS:
                scrape(conn, pid, competitor, base, base, now - timedelta(minutes=10))
        # P001: its own estimate (−2, conversion 5 % at 899.99) and 100 views an hour: p* = 719.99 + 899.99/2
        views(conn, "P001", 2400, 120, now)
        estimate(conn, "product", "P001", -2.0, 0.2, 0.05)
        estimate(conn, "category", "phones", -20.0, 0.5, None)
        # P002: we cut 1199.99 → 1079.99 and TechMart followed (scraped above, then at our cut price)
        views(conn, "P002", 2400, 60, now)
        conn.execute("SELECT apply_price_change('P002', 1079.99, 'test', 'a cut')")
        scrape(conn, "P002", "TechMart", 1150.0, 1199.99, now - timedelta(hours=5))
        scrape(conn, "P002", "TechMart", 1075.0, 1079.99, now - timedelta(minutes=5))
        # P003: no views at all → nothing to predict units from
        summary = run_cycle(conn, PROFIT_PHONES, now=now)
        decided = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT product_id, strategy, recommendation, recommended_price, guardrail, confidence, "
                "reason FROM pricing_recommendations WHERE cycle_id = %s",
                (summary.cycle_id,),
            )
        }
    assert {pid: d[0] for pid, d in decided.items()} == {
        "P001": "profit", "P002": "profit", "P003": "profit", "P007": "rules",
    }  # fmt: skip
    _, decision, price, guardrail, confidence, reason = decided["P001"]
    assert (decision, price, guardrail) == ("raise", Decimal("989.99"), "max_step")  # p* 1169.99, step 10 %
    assert confidence == Decimal("0.900")
    assert "elasticity -2.00 ± 0.20 (own); at 899.99 5.0 units/h" in reason
    # P002 borrows the category's −20: its optimum (959.99 + 60) is below our cut price, but TechMart
    # followed the cut, so it holds.
    assert decided["P002"][1:4] == ("hold", Decimal("1079.99"), "price_war")
    assert "TechMart followed our last cut: not lowering" in decided["P002"][5]
    assert "(category)" in decided["P002"][5]
    assert decided["P003"][1] == "hold" and "no recent views" in decided["P003"][5]
    assert decided["P007"][1] == "hold" and "competitors below us" in decided["P007"][5]


def test_without_any_estimate_the_prior_and_the_observed_conversion_are_used(database: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(database, autocommit=True) as conn:
        for competitor in COMPETITORS:
            scrape(conn, "P001", competitor, 899.99, 899.99, now - timedelta(minutes=10))
        views(conn, "P001", 2400, 120, now)
        summary = run_cycle(conn, PROFIT_PHONES, now=now)
        strategy, reason = conn.execute(
            "SELECT strategy, reason FROM pricing_recommendations WHERE cycle_id = %s", (summary.cycle_id,)
        ).fetchone()  # type: ignore[misc]
    assert strategy == "profit"
    assert "elasticity -1.50 ± 1.00 (prior); at 899.99 5.0 units/h" in reason


def test_a_minimum_price_above_the_maximum_is_refused(database: str) -> None:
    with (
        psycopg.connect(database) as conn,
        pytest.raises(psycopg.errors.CheckViolation, match="min_price_not_above_max_price"),
    ):
        conn.execute("UPDATE products SET min_price = 900, max_price = 800 WHERE product_id = 'P001'")


def test_a_price_change_outside_the_bounds_is_refused_with_the_bound_named(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE products SET min_price = 800, max_price = 950 WHERE product_id = 'P001'")
        with pytest.raises(psycopg.Error, match=r"above its maximum price 950\.00"):
            conn.execute("SELECT apply_price_change('P001', 989.99, 'test', 'too high')")
        with pytest.raises(psycopg.Error, match=r"below its minimum price 800\.00"):
            conn.execute("SELECT apply_price_change('P001', 799.99, 'test', 'too low')")
        conn.execute("SELECT apply_price_change('P001', 949.99, 'test', 'inside')")
        assert conn.execute("SELECT current_price FROM products WHERE product_id = 'P001'").fetchone() == (
            Decimal("949.99"),
        )
