"""Analytics assets against a real PostgreSQL: realistic clickstream, market, recommendation and stock rows
in, the dbt staging views and pricing_analysis mart built, the four assets materialised through Dagster,
and the `analytics_*` tables checked value by value; then the four notebooks built and executed on them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from psycopg.rows import dict_row

from pricing_platform import notebooks
from pricing_platform.analytics import forecast, store
from pricing_platform.assets.analytics import analytics_assets, analytics_job, analytics_schedule
from pricing_platform.core import tables
from pricing_platform.core.catalog import PRODUCTS
from pricing_platform.core.settings import Settings, default_settings
from pricing_platform.resources import build_resources
from pricing_platform.resources.dbt import DbtResource
from tests.conftest import TEMPLATE_DB
from tests.support.factories import click_row, insert_click_rows
from tests.support.servers import PostgresProcess
from tests.support.shop import run_checked_cycle

pytestmark = pytest.mark.integration


def test_every_analytics_table_exists_after_migrating(database: str) -> None:
    analytics = [name for name in tables.ALL if name.startswith("analytics_")]
    with psycopg.connect(database) as conn:
        found = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_name = ANY(%s)", (analytics,)
            )
        }
    assert found == set(analytics)
    assert len(analytics) == 12


# --- realistic rows ------------------------------------------------------------------------------------


def seed_clicks(conn: psycopg.Connection, hour: datetime) -> None:
    """Five sessions in the last three complete hours, one purchase three days ago and one 100 days ago.
    `hour` is the start of the current hour."""
    a, b, c, d, e, f, g = (uuid.uuid4() for _ in range(7))
    m, h = timedelta(minutes=1), timedelta(hours=1)
    t_a, t_b, t_c, t_d, t_e = hour - 3 * h + 10 * m, hour - 3 * h + 20 * m, hour - 2 * h + 5 * m, \
        hour - 2 * h + 30 * m, hour - h + 15 * m  # fmt: skip
    rows = [
        # A (U1, desktop): the whole funnel on a laptop, 3 minutes
        click_row(a, "U1", "page_view", None, t_a, "desktop"),
        click_row(a, "U1", "product_view", "P007", t_a + m, "desktop"),
        click_row(a, "U1", "add_to_cart", "P007", t_a + 2 * m, "desktop"),
        click_row(a, "U1", "purchase", "P007", t_a + 3 * m, "desktop"),
        # B (U2, mobile): product-less page views only → unattributed
        click_row(b, "U2", "page_view", None, t_b, "mobile"),
        click_row(b, "U2", "page_view", None, t_b + m, "mobile"),
        # C (U3, mobile): a phone into the cart, no purchase
        click_row(c, "U3", "page_view", None, t_c, "mobile"),
        click_row(c, "U3", "product_view", "P001", t_c + m, "mobile"),
        click_row(c, "U3", "add_to_cart", "P001", t_c + 2 * m, "mobile"),
        # D (U4, tablet): views a laptop, buys headphones, no page view recorded
        click_row(d, "U4", "product_view", "P008", t_d, "tablet"),
        click_row(d, "U4", "product_view", "P013", t_d + m, "tablet"),
        click_row(d, "U4", "purchase", "P013", t_d + 2 * m, "tablet"),
        # E (U1 again, desktop): straight to the laptop and buys it
        click_row(e, "U1", "page_view", None, t_e, "desktop"),
        click_row(e, "U1", "product_view", "P007", t_e + m, "desktop"),
        click_row(e, "U1", "purchase", "P007", t_e + 2 * m, "desktop"),
        # outside the funnel window: U5 bought a phone 3 days ago; U6 100 days ago (outside RFM too)
        click_row(f, "U5", "purchase", "P001", hour - 72 * h + 5 * m, "mobile"),
        click_row(g, "U6", "purchase", "P002", hour - 100 * 24 * h, "desktop"),
    ]
    insert_click_rows(conn, rows)


def move(
    conn: psycopg.Connection, product: str, warehouse: str, kind: str, quantity: int, at: datetime
) -> None:
    """An applied movement, changing inventory_state in the same transaction as ingest does."""
    (after,) = conn.execute(
        "UPDATE inventory_state SET current_stock = current_stock + %s, updated_at = now() "
        "WHERE product_id = %s AND warehouse_id = %s RETURNING current_stock",
        (quantity, product, warehouse),
    ).fetchone()  # type: ignore[misc]
    conn.execute(
        "INSERT INTO inventory_events (event_id, product_id, warehouse_id, event_type, quantity_change, "
        "event_time, status, stock_after) VALUES (gen_random_uuid(), %s, %s, %s, %s, %s, 'applied', %s)",
        (product, warehouse, kind, quantity, at, after),
    )


def seed_stock(conn: psycopg.Connection, now: datetime) -> None:
    """Every slot opens at 500 (1500 per product). Two days ago stock was adjusted down; within the
    last 24 h: P028 sells 24 of its 36 (12 left, 1/h → 12 h), P025 24 of 60 (36 left → 36 h)."""
    earlier, recent = now - timedelta(days=2), now - timedelta(hours=3)
    for warehouse in ("WH-LAGOS", "WH-ABUJA"):
        for product in ("P025", "P028", "P030"):
            move(conn, product, warehouse, "manual_adjustment", -500, earlier)
    move(conn, "P030", "WH-PH", "manual_adjustment", -500, earlier)  # P030 out of stock everywhere
    move(conn, "P028", "WH-PH", "manual_adjustment", -464, earlier)  # 36 left
    move(conn, "P025", "WH-PH", "manual_adjustment", -440, earlier)  # 60 left
    for _ in range(3):
        move(conn, "P028", "WH-PH", "sale", -8, recent)
        move(conn, "P025", "WH-PH", "sale", -8, recent)
    move(conn, "P007", "WH-LAGOS", "sale", -2, recent)
    move(conn, "P013", "WH-ABUJA", "sale", -1, recent)
    move(conn, "P010", "WH-PH", "sale", -5, earlier)  # outside the 24 h window: no velocity
    conn.execute(  # a rejected sale sells nothing
        "INSERT INTO inventory_events (event_id, product_id, warehouse_id, event_type, quantity_change, "
        "event_time, status, stock_after, reject_reason) VALUES (gen_random_uuid(), 'P001', 'WH-PH', 'sale', "
        "-600, %s, 'rejected', 500, 'would take stock below zero')",
        (recent,),
    )


def seed_market(conn: psycopg.Connection, now: datetime) -> None:
    fresh, stale = now - timedelta(minutes=5), now - timedelta(hours=7)
    prices = [
        ("P001", "TechMart", "720.00", fresh), ("P001", "GadgetZone", "730.00", fresh),
        ("P001", "ElectroHub", "740.00", fresh),  # 899.99 is 23 % above: lower
        ("P002", "TechMart", "1400.00", fresh), ("P002", "GadgetZone", "1400.00", fresh),
        ("P002", "ElectroHub", "1400.00", fresh),  # 14 % below them, no demand: hold
        ("P003", "TechMart", "650.00", fresh), ("P003", "GadgetZone", "750.00", fresh),
        ("P003", "ElectroHub", "500.00", stale),  # 699.99 at the fresh average: hold
    ]  # fmt: skip
    conn.cursor().executemany(
        "INSERT INTO competitor_prices_latest (product_id, competitor_name, event_id, competitor_price, "
        "our_price, price_difference, price_difference_pct, event_time) "
        "SELECT %s, %s, gen_random_uuid(), %s::numeric, p.current_price, %s::numeric - p.current_price, "
        "round((%s::numeric - p.current_price) / p.current_price * 100, 2), %s "
        "FROM products p WHERE product_id = %s",
        [(pid, comp, price, price, price, at, pid) for pid, comp, price, at in prices],
    )


def rows(conninfo: str, table: str, order: str) -> list[dict]:
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()  # type: ignore[arg-type]


@dataclass(frozen=True)
class Seeded:
    conninfo: str
    hour: datetime  # start of the hour the rows were seeded in
    result: dg.ExecuteInProcessResult


@pytest.fixture(scope="module")
def analytics_db(postgres: PostgresProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """One database for the module: seeded, dbt models built, the four assets materialised once."""
    conninfo = postgres.create_database(f"analytics_{uuid.uuid4().hex[:8]}", template=TEMPLATE_DB)
    now = datetime.now(UTC)
    hour = store.current_hour(now)
    with psycopg.connect(conninfo) as conn:
        seed_clicks(conn, hour)
        seed_stock(conn, now)
        seed_market(conn, now)
    run_checked_cycle(conninfo)
    target = tmp_path_factory.mktemp("dbt-target")
    built = DbtResource.from_settings(Settings(database_url=conninfo)).run(  # type: ignore[arg-type]
        ["run", "--select", "path:models/staging pricing_analysis", "--target-path", str(target)]
    )
    assert built.returncode == 0, built.output[-4000:]
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            analytics_assets, resources=build_resources(Settings(database_url=conninfo)), instance=instance
        )
        yield Seeded(conninfo, hour, result)


def metadata(seeded: Seeded, asset: str) -> dict[str, object]:
    [event] = seeded.result.asset_materializations_for_node(asset)
    return {key: value.value for key, value in event.metadata.items()}


# --- tests ---------------------------------------------------------------------------------------------


def test_funnel_tables_hold_the_seeded_sessions(analytics_db: Seeded) -> None:
    db = analytics_db.conninfo
    stages = rows(db, tables.ANALYTICS_FUNNEL_STAGES, "stage_order")
    # page_view A B C E · product_view A C D E · add_to_cart A C · purchase A D E
    assert [(r["stage"], r["sessions"]) for r in stages] == [
        ("page_view", 4), ("product_view", 4), ("add_to_cart", 2), ("purchase", 3),
    ]  # fmt: skip
    assert [r["drop_off_pct"] for r in stages] == [None, Decimal("0.00"), Decimal("50.00"), Decimal("-50.00")]
    assert [r["is_steepest_drop"] for r in stages] == [False, False, True, False]
    assert len({r["computed_at"] for r in stages}) == 1

    breakdown: dict[tuple[str, str], list[int]] = {}
    for r in rows(db, tables.ANALYTICS_FUNNEL_BREAKDOWN, "device_type, category, stage_order"):
        breakdown.setdefault((r["device_type"], r["category"]), []).append(r["sessions"])
    assert breakdown == {
        ("desktop", "laptops"): [2, 2, 1, 2],  # A and E
        ("mobile", "phones"): [1, 1, 1, 0],  # C
        ("mobile", "unattributed"): [1, 0, 0, 0],  # B
        ("tablet", "headphones"): [0, 1, 0, 1],  # D bought headphones ...
        ("tablet", "laptops"): [0, 1, 0, 0],  # ... after viewing a laptop
    }

    profiles = {r["converted"]: r for r in rows(db, tables.ANALYTICS_SESSION_PROFILES, "converted")}
    # converted A (4 events, 180 s, 1 product), D (3, 120 s, 2), E (3, 120 s, 1)
    assert (profiles[True]["sessions"], profiles[True]["avg_events_per_session"]) == (3, Decimal("3.33"))
    assert (profiles[True]["avg_duration_s"], profiles[True]["avg_products_viewed"]) == (
        Decimal("140.0"),
        Decimal("1.33"),
    )
    assert profiles[True]["device_mix"] == {"desktop": 66.67, "tablet": 33.33}
    # not converted B (2, 60 s, 0), C (3, 120 s, 1)
    assert (profiles[False]["sessions"], profiles[False]["avg_duration_s"]) == (2, Decimal("90.0"))
    assert profiles[False]["device_mix"] == {"mobile": 100.0}

    meta = metadata(analytics_db, "analytics_funnel")
    assert meta["steepest_drop_off"] == "product_view → add_to_cart (50.0 %)"
    assert (meta["sessions"], meta["converted_sessions"], meta["conversion_pct"]) == (5, 3, 60.0)
    assert meta[f"rows/{tables.ANALYTICS_FUNNEL_BREAKDOWN}"] == 20


def test_elasticity_tables_position_prices_and_simulate_the_lower_recommendation(
    analytics_db: Seeded,
) -> None:
    db = analytics_db.conninfo
    position = {r["product_id"]: r for r in rows(db, tables.ANALYTICS_PRICE_POSITION, "product_id")}
    assert len(position) == len(PRODUCTS)
    p001 = position["P001"]
    assert (p001["our_price"], p001["competitor_avg_price"], p001["competitors_seen"]) == (
        Decimal("899.99"), Decimal("730.00"), 3,
    )  # fmt: skip
    assert (p001["price_gap_pct"], p001["gap_bucket"]) == (Decimal("23.29"), "> 10 %")
    assert (p001["recommendation"], p001["recommended_price"]) == ("lower", Decimal("809.99"))
    # base: U5's purchase 3 days ago; q1 = 1 × (809.99 / 899.99)^−1.5
    q1 = (809.99 / 899.99) ** -1.5
    assert p001["base_quantity"] == 1 and p001["current_revenue"] == Decimal("899.99")
    assert float(p001["simulated_quantity"]) == pytest.approx(q1, abs=0.005)
    assert float(p001["revenue_impact"]) == pytest.approx(q1 * 809.99 - 899.99, abs=0.005)
    assert (position["P002"]["gap_bucket"], position["P002"]["recommendation"]) == ("≤ -10 %", "hold")
    assert (position["P003"]["competitor_avg_price"], position["P003"]["competitors_seen"]) == (
        Decimal("700.00"),
        2,
    )
    p007 = position["P007"]  # bought twice, no competitor data, no recommendation
    assert (p007["base_quantity"], p007["gap_bucket"], p007["recommendation"]) == (
        2,
        "no competitor data",
        None,
    )
    assert p007["revenue_impact"] == 0 and p007["simulated_revenue"] == Decimal("3999.98")

    summary = {
        r["recommendation"]: r for r in rows(db, tables.ANALYTICS_ELASTICITY_SUMMARY, "recommendation")
    }
    assert {k: v["products"] for k, v in summary.items()} == {"raise": 0, "lower": 1, "hold": 2, "none": 27}
    assert summary["lower"]["revenue_impact"] == p001["revenue_impact"]
    assert summary["lower"]["elasticity"] == Decimal("-1.500")

    landscape = {(r["competitor_name"], r["product_id"]): r
                 for r in rows(db, tables.ANALYTICS_COMPETITOR_LANDSCAPE, "1, 2")}  # fmt: skip
    assert len(landscape) == 9
    assert landscape[("TechMart", "P001")]["price_index"] == Decimal("80.00")  # 720 / 899.99 × 100
    assert landscape[("ElectroHub", "P003")]["is_fresh"] is False

    meta = metadata(analytics_db, "analytics_elasticity")
    assert (meta["lower_recommendations"], meta["products"]) == (1, 30)
    assert meta["lower_revenue_impact"] == pytest.approx(float(p001["revenue_impact"]), abs=0.01)
    assert meta["most_undercutting_competitor"] in {"TechMart", "GadgetZone", "ElectroHub"}


def test_rfm_tables_score_and_segment_the_buyers_of_the_window(analytics_db: Seeded) -> None:
    db = analytics_db.conninfo
    customers = {r["user_id"]: r for r in rows(db, tables.ANALYTICS_RFM_CUSTOMERS, "user_id")}
    # U6 bought 100 days ago: outside the 90-day window. U1 bought twice (2 × 1999.99), most recently.
    assert set(customers) == {"U1", "U4", "U5"}
    assert (customers["U1"]["frequency"], customers["U1"]["monetary"]) == (2, Decimal("3999.98"))
    # R: U1 > U4 > U5 → 5, 4, 2. F: U1 5; U4 and U5 tie at rank 1.5 → 3. M: U1 5, U5 (899.99) 4, U4 2.
    assert {u: (r["rfm_score"], r["segment"]) for u, r in customers.items()} == {
        "U1": ("555", "Champions"),
        "U4": ("432", "Potential Loyalists"),
        "U5": ("234", "At Risk"),
    }
    assert 2.9 < customers["U5"]["recency_days"] < 3.1

    segments = {r["segment"]: r for r in rows(db, tables.ANALYTICS_RFM_SEGMENTS, "segment")}
    assert len(segments) == 7
    assert segments["At Risk"]["revenue"] == Decimal("899.99")
    assert segments["Champions"]["revenue_share_pct"] == Decimal("76.19")  # 3999.98 / 5249.96
    assert segments["Lost"]["customers"] == 0 and segments["Lost"]["avg_monetary"] is None
    meta = metadata(analytics_db, "analytics_rfm")
    assert meta["buyers"] == 3 and meta["segment_sizes"]["At Risk"] == 1  # type: ignore[index]


def test_demand_tables_fill_hours_forecast_and_flag_stockouts(analytics_db: Seeded) -> None:
    db, hour, h = analytics_db.conninfo, analytics_db.hour, timedelta(hours=1)
    hourly = rows(db, tables.ANALYTICS_DEMAND_HOURLY, "category, hour")
    by_category: dict[str, list[dict]] = {}
    for r in hourly:
        by_category.setdefault(r["category"], []).append(r)
    assert set(by_category) == {"phones", "laptops", "headphones", "tablets", "accessories"}
    laptops = {r["hour"]: r for r in by_category["laptops"]}
    # the series starts at the hour of U5's purchase 3 days ago and ends at the last complete hour
    computed_at = hourly[0]["computed_at"]
    assert min(laptops) == hour - 72 * h and max(laptops) == store.current_hour(computed_at) - h
    assert len(laptops) == len(by_category["tablets"]) == int((max(laptops) - min(laptops)) / h) + 1
    assert [laptops[hour - k * h]["purchases"] for k in (3, 2, 1)] == [1, 0, 1]
    assert [laptops[hour - k * h]["ma_3h"] for k in (3, 2, 1)] == [
        Decimal("0.333"),
        Decimal("0.333"),
        Decimal("0.667"),
    ]
    assert sum(r["purchases"] for r in hourly) == 4

    heatmap = rows(db, tables.ANALYTICS_DEMAND_HEATMAP, "day_of_week, hour_of_day")
    assert len(heatmap) == 168 and sum(r["purchases"] for r in heatmap) == 4
    cell = next(
        r
        for r in heatmap
        if (r["day_of_week"], r["hour_of_day"]) == ((hour - h).isoweekday(), (hour - h).hour)
    )
    assert cell["purchases"] >= 1

    predicted = rows(db, tables.ANALYTICS_DEMAND_FORECAST, "category, horizon_h")
    assert len(predicted) == 5 * 6
    laptop_forecast = [r for r in predicted if r["category"] == "laptops"]
    fit = forecast.holt_forecast([r["purchases"] for r in by_category["laptops"]], decay=0.85)
    assert [float(r["forecast_purchases"]) for r in laptop_forecast] == pytest.approx(fit.forecasts, abs=5e-4)
    assert laptop_forecast[0]["forecast_hour"] == max(laptops) + h

    risk = {r["product_id"]: r for r in rows(db, tables.ANALYTICS_STOCKOUT_RISK, "product_id")}
    assert len(risk) == len(PRODUCTS)
    assert (risk["P028"]["total_stock"], risk["P028"]["units_sold_window"]) == (12, 24)
    assert (risk["P028"]["hours_until_stockout"], risk["P028"]["risk"]) == (Decimal("12.0"), "Critical")
    assert (risk["P030"]["hours_until_stockout"], risk["P030"]["risk"]) == (Decimal("0.0"), "Critical")
    assert (risk["P025"]["hours_until_stockout"], risk["P025"]["risk"]) == (Decimal("36.0"), "Warning")
    assert risk["P010"]["hours_until_stockout"] is None and risk["P010"]["risk"] == "OK"  # sold 2 days ago
    assert risk["P001"]["units_sold_window"] == 0, "a rejected sale sells nothing"
    assert risk["P007"]["risk"] == "OK" and risk["P007"]["hourly_velocity"] == Decimal("0.083")
    assert {p for p, r in risk.items() if r["risk"] != "OK"} == {"P025", "P028", "P030"}

    meta = metadata(analytics_db, "analytics_demand_forecast")
    assert (meta["critical_products"], meta["warning_products"]) == (2, 1)
    assert "P028" in str(meta["critical"]) and "out of stock" in str(meta["critical"])


def test_rematerialising_replaces_the_tables_rather_than_appending(analytics_db: Seeded) -> None:
    db = analytics_db.conninfo
    before = rows(db, tables.ANALYTICS_STOCKOUT_RISK, "product_id")
    with dg.instance_for_test() as instance:
        again = dg.materialize(
            analytics_assets, resources=build_resources(Settings(database_url=db)), instance=instance
        )
    assert again.success
    after = rows(db, tables.ANALYTICS_STOCKOUT_RISK, "product_id")
    assert len(after) == len(before) == len(PRODUCTS)
    assert after[0]["computed_at"] > before[0]["computed_at"]
    assert len(rows(db, tables.ANALYTICS_FUNNEL_STAGES, "stage_order")) == 4


def test_a_failed_replace_leaves_every_table_as_it_was(analytics_db: Seeded) -> None:
    import pandas as pd

    db = analytics_db.conninfo
    before = rows(db, tables.ANALYTICS_FUNNEL_STAGES, "stage_order")
    good = pd.DataFrame(
        {"stage_order": [1], "stage": ["page_view"], "sessions": [1], "is_steepest_drop": [False]}
    )
    bad = pd.DataFrame({"segment": ["Champions"], "customers": [None]})  # NOT NULL violated on the 2nd table
    with psycopg.connect(db, autocommit=True) as conn, pytest.raises(psycopg.errors.NotNullViolation):
        store.replace_tables(conn, {tables.ANALYTICS_FUNNEL_STAGES: good, tables.ANALYTICS_RFM_SEGMENTS: bad},
                             datetime.now(UTC))  # fmt: skip
    assert rows(db, tables.ANALYTICS_FUNNEL_STAGES, "stage_order") == before


def test_analytics_fail_with_what_to_do_before_dbt_has_built_its_models(database: str) -> None:
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [analytics_assets[0]], resources=build_resources(Settings(database_url=database)),
            instance=instance, raise_on_error=False,
        )  # fmt: skip
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]
    assert "staging.stg_clickstream" in message and "pricing-platform dbt cli build" in message


def test_analytics_on_a_database_without_events_write_empty_or_zero_tables(
    database: str, tmp_path: Path
) -> None:
    built = DbtResource.from_settings(Settings(database_url=database)).run(  # type: ignore[arg-type]
        ["run", "--select", "path:models/staging pricing_analysis", "--target-path", str(tmp_path)]
    )
    assert built.returncode == 0, built.output[-4000:]
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            analytics_assets, resources=build_resources(Settings(database_url=database)), instance=instance
        )
    assert result.success
    counts = {}
    with psycopg.connect(database) as conn:
        for table in (t for t in tables.ALL if t.startswith("analytics_")):
            counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
    assert counts == {
        tables.ANALYTICS_FUNNEL_STAGES: 4,  # all four stages at 0 sessions
        tables.ANALYTICS_FUNNEL_BREAKDOWN: 0,
        tables.ANALYTICS_SESSION_PROFILES: 0,
        tables.ANALYTICS_PRICE_POSITION: 30,  # every product, no competitor data, quantity 0
        tables.ANALYTICS_COMPETITOR_LANDSCAPE: 0,
        tables.ANALYTICS_ELASTICITY_SUMMARY: 4,
        tables.ANALYTICS_RFM_CUSTOMERS: 0,
        tables.ANALYTICS_RFM_SEGMENTS: 7,  # every segment at 0 customers
        tables.ANALYTICS_DEMAND_HOURLY: 0,
        tables.ANALYTICS_DEMAND_HEATMAP: 168,
        tables.ANALYTICS_DEMAND_FORECAST: 0,
        tables.ANALYTICS_STOCKOUT_RISK: 30,  # 1500 in stock each, no sales: OK
    }
    funnel_meta = result.asset_materializations_for_node("analytics_funnel")[0].metadata
    assert funnel_meta["steepest_drop_off"].value == "no sessions in the window"


def test_job_and_schedule_cover_the_four_assets_every_15_minutes() -> None:
    defs = dg.Definitions(
        assets=analytics_assets, jobs=[analytics_job], schedules=[analytics_schedule],
        resources=build_resources(default_settings()),
    )  # fmt: skip
    job = defs.resolve_job_def(analytics_job.name)
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == {
        "analytics_funnel", "analytics_elasticity", "analytics_rfm", "analytics_demand_forecast",
    }  # fmt: skip
    assert analytics_schedule.cron_schedule == "7-59/15 * * * *"
    with dg.instance_for_test() as instance:
        assert isinstance(analytics_schedule(dg.build_schedule_context(instance=instance)), dg.RunRequest)


# Every chart of each notebook rendered (elasticity includes the revenue impact of P001's lower).
FIGURES = {"funnel": 3, "elasticity": 5, "rfm": 4, "forecasting": 4}


def test_notebooks_build_and_execute_with_plotly_figures(analytics_db: Seeded, tmp_path: Path) -> None:
    paths = notebooks.write(tmp_path / "notebooks")
    assert [p.name for p in paths] == ["funnel.ipynb", "elasticity.ipynb", "rfm.ipynb", "forecasting.ipynb"]
    for path in paths:
        executed = notebooks.execute(path, analytics_db.conninfo)
        errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]  # fmt: skip
        assert errors == [], path.name
        assert notebooks.plotly_figures(executed) == FIGURES[path.stem], path.name
        saved = json.loads(path.read_text())
        assert any(
            notebooks.PLOTLY_MIME in o.get("data", {}) for c in saved["cells"] for o in c.get("outputs", [])
        )
        printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
        assert "has not written it" not in printed, f"{path.name} found an empty analytics table"


def test_cli_writes_the_notebooks_without_executing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from pricing_platform.cli import app
    from pricing_platform.core.settings import get_settings

    monkeypatch.setenv("NOTEBOOKS_DIR", str(tmp_path / "out"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["notebooks", "build", "--no-execute"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["elasticity.ipynb", "forecasting.ipynb", "funnel.ipynb", "rfm.ipynb"]
    funnel = json.loads((tmp_path / "out" / "funnel.ipynb").read_text())
    assert funnel["metadata"]["kernelspec"]["name"] == notebooks.KERNEL_NAME
    assert all(not c.get("outputs") for c in funnel["cells"] if c["cell_type"] == "code"), "not executed"
