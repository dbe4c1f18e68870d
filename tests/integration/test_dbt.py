"""The dbt layer against a real PostgreSQL: the manifest is prepared as the install step does, `dbt build`
builds every model and passes every test on realistic rows, the marts hold the right numbers, the dbt
assets materialise through Dagster downstream of the raw assets with every test as an asset check, and the
docs generate."""

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from pricing_platform.core.catalog import PRODUCTS_BY_ID
from pricing_platform.core.settings import Settings, default_settings
from pricing_platform.pricing.cycle import run_cycle
from pricing_platform.pricing.rules import PricingRules
from pricing_platform.resources import build_resources
from pricing_platform.resources.dbt import DbtResource
from tests.support.factories import click_row, insert_click_rows
from tests.support.shop import run_checked_cycle

pytestmark = pytest.mark.integration

MODELS = {
    "stg_products",
    "stg_clickstream",
    "stg_inventory",
    "stg_inventory_state",
    "stg_competitor_prices",
    "daily_funnel_metrics",
    "product_performance",
    "pricing_analysis",
    "hourly_demand",
    "int_session_funnel",
    "int_product_hours",
    "int_product_sessions",
}


@pytest.fixture(scope="module")
def manifest() -> Iterator[dict]:
    """The install step: regenerate the catalog macros and `dbt parse` (no database needed)."""
    path = DbtResource.from_settings(default_settings()).prepare()
    yield json.loads(path.read_text())


# --- realistic rows ------------------------------------------------------------------------------------


def seed_clicks(conn: psycopg.Connection, start: datetime) -> dict[str, datetime]:
    """Five sessions, all starting at `start`: the expectations of daily_funnel_metrics follow."""
    a, b, c, d, e = (uuid.uuid4() for _ in range(5))
    m = timedelta(minutes=1)
    rows = [
        # A: lands on a product-less page, views a laptop, buys it → a laptops conversion
        click_row(a, "U1", "page_view", None, start, "desktop"),
        click_row(a, "U1", "product_view", "P007", start + m, "desktop"),
        click_row(a, "U1", "add_to_cart", "P007", start + 2 * m, "desktop"),
        click_row(a, "U1", "purchase", "P007", start + 3 * m, "desktop"),
        # B: product-less page views only → 'unattributed'
        click_row(b, "U2", "page_view", None, start, "mobile"),
        click_row(b, "U2", "page_view", None, start + m, "mobile"),
        # C: a phone into the cart and out again → phones, not converted
        click_row(c, "U3", "page_view", None, start, "mobile"),
        click_row(c, "U3", "product_view", "P001", start + m, "mobile"),
        click_row(c, "U3", "add_to_cart", "P001", start + 2 * m, "mobile"),
        click_row(c, "U3", "remove_from_cart", "P001", start + 3 * m, "mobile"),
        # D: views a laptop, buys headphones → laptops (not converted) and headphones (converted)
        click_row(d, "U4", "product_view", "P008", start, "tablet"),
        click_row(d, "U4", "product_view", "P013", start + m, "tablet"),
        click_row(d, "U4", "purchase", "P013", start + 2 * m, "tablet"),
        # E: a product page view (product, no price) and a laptop view → laptops
        click_row(e, "U1", "page_view", "P009", start, "desktop"),
        click_row(e, "U1", "product_view", "P007", start + m, "desktop"),
    ]
    insert_click_rows(conn, rows)
    return {"laptop_purchase": start + 3 * m}


def seed_movements(conn: psycopg.Connection, at: datetime) -> None:
    """Applied movements change inventory_state in the same transaction (as ingest does); a rejected one
    changes nothing."""
    applied = [("P007", "WH-LAGOS", "sale", -1), ("P013", "WH-ABUJA", "sale", -1),
               ("P025", "WH-PH", "stock_damaged", -5), ("P025", "WH-PH", "stock_received", 40),
               ("P028", "WH-LAGOS", "manual_adjustment", -500)]  # fmt: skip
    for product, warehouse, kind, quantity in applied:
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
    conn.execute(
        "INSERT INTO inventory_events (event_id, product_id, warehouse_id, event_type, quantity_change, "
        "event_time, status, stock_after, reject_reason) VALUES (gen_random_uuid(), 'P030', 'WH-PH', 'sale', "
        "-600, %s, 'rejected', 500, 'would take stock below zero')",
        (at,),
    )


def seed_market(conn: psycopg.Connection, now: datetime) -> None:
    fresh, stale = now - timedelta(minutes=5), now - timedelta(hours=7)
    prices = [
        ("P001", "TechMart", "720.00", fresh), ("P001", "GadgetZone", "730.00", fresh),
        ("P001", "ElectroHub", "740.00", fresh),  # 899.99 is 23 % above: lower
        ("P002", "TechMart", "1400.00", fresh), ("P002", "GadgetZone", "1400.00", fresh),
        ("P002", "ElectroHub", "1400.00", fresh),  # below them, no demand: hold
        ("P003", "TechMart", "650.00", fresh), ("P003", "GadgetZone", "750.00", fresh),
        ("P003", "ElectroHub", "500.00", stale),  # 699.99 inside the two fresh prices
    ]  # fmt: skip
    conn.cursor().executemany(
        "INSERT INTO competitor_prices_latest (product_id, competitor_name, event_id, competitor_price, "
        "our_price, price_difference, price_difference_pct, event_time) "
        "SELECT %s, %s, gen_random_uuid(), %s::numeric, p.current_price, %s::numeric - p.current_price, "
        "round((%s::numeric - p.current_price) / p.current_price * 100, 2), %s "
        "FROM products p WHERE product_id = %s",
        [(pid, comp, price, price, price, at, pid) for pid, comp, price, at in prices],
    )


def query(conninfo: str, statement: str) -> list[dict]:
    with psycopg.connect(conninfo, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(statement).fetchall()  # type: ignore[arg-type]


# --- tests ---------------------------------------------------------------------------------------------


def test_dbt_build_on_real_rows_passes_every_test_and_fills_the_marts(
    settings: Settings, manifest: dict, tmp_path: Path
) -> None:
    db = settings.database_conninfo
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=20)
    with psycopg.connect(db) as conn:
        times = seed_clicks(conn, start)
        seed_movements(conn, start)
        seed_market(conn, now)
    run_checked_cycle(db, settings)
    latest_cycle = run_checked_cycle(db, settings).cycle_id  # the analysis must join this one
    with psycopg.connect(db, autocommit=True) as conn:
        # Appended but not checked yet (or withheld by a failed check): the marts never read it.
        run_cycle(conn, PricingRules.defaults())

    target = tmp_path / "target"
    result = DbtResource.from_settings(settings).run(["build", "--target-path", str(target)])
    assert result.returncode == 0, result.output[-4000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    built = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    assert built == MODELS
    assert all(r["status"] == "success" for r in results if r["unique_id"].startswith("model."))
    tests = [r for r in results if r["unique_id"].startswith("test.")]
    manifest_tests = [n for n in manifest["nodes"] if n.startswith("test.")]
    assert len(tests) == len(manifest_tests) > 50
    assert [r["unique_id"] for r in tests if r["status"] != "pass"] == []

    # Schemas exactly as named: no `public_marts`.
    schemas = {r["table_schema"] for r in query(db, "SELECT table_schema FROM information_schema.tables "
                                                    "WHERE table_name = 'daily_funnel_metrics'")}  # fmt: skip
    assert schemas == {"marts"}

    # Every column the models produce is documented.
    documented = {
        node["name"]: set(node["columns"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    actual: dict[str, set[str]] = {}
    for row in query(db, "SELECT table_name, column_name FROM information_schema.columns "
                         "WHERE table_schema IN ('staging', 'marts')"):  # fmt: skip
        actual.setdefault(row["table_name"], set()).add(row["column_name"])
    assert actual == documented

    # daily_funnel_metrics: sessions attributed to the categories they reached.
    funnel = {r["category"]: r for r in query(db, "SELECT * FROM marts.daily_funnel_metrics")}
    assert set(funnel) == {"laptops", "headphones", "phones", "unattributed"}, "no null category"
    day = start.date()
    assert {r["event_date"] for r in funnel.values()} == {day}
    laptops = funnel["laptops"]
    assert (laptops["sessions"], laptops["viewing_sessions"], laptops["converted_sessions"]) == (3, 3, 1)
    assert (laptops["purchases"], laptops["revenue"], laptops["page_views"]) == (1, Decimal("1999.99"), 2)
    assert laptops["session_conversion_rate"] == Decimal("0.3333")
    headphones = funnel["headphones"]
    assert (headphones["sessions"], headphones["converted_sessions"], headphones["revenue"]) == (
        1, 1, Decimal("349.99"),
    )  # fmt: skip
    phones = funnel["phones"]
    assert (phones["sessions"], phones["cart_sessions"], phones["converted_sessions"]) == (1, 1, 0)
    assert phones["cart_to_purchase_rate"] == Decimal("0.0000")
    unattributed = funnel["unattributed"]
    assert (unattributed["sessions"], unattributed["page_views"], unattributed["product_views"]) == (1, 2, 0)
    assert unattributed["session_conversion_rate"] == Decimal("0.0000")

    # stg_clickstream: calendar attributes in UTC.
    [purchase] = query(db, "SELECT hour_of_day, day_of_week, event_date, revenue "
                           "FROM staging.stg_clickstream "
                           "WHERE event_type = 'purchase' AND product_id = 'P007'")  # fmt: skip
    at = times["laptop_purchase"]
    assert (purchase["hour_of_day"], purchase["day_of_week"], purchase["event_date"]) == (
        at.hour, at.isoweekday(), at.date(),
    )  # fmt: skip
    assert purchase["revenue"] == Decimal("1999.99")

    # hourly_demand: purchases per hour and category.
    hourly = query(db, "SELECT category, hour_of_day, sum(purchases) AS purchases, sum(revenue) AS revenue "
                       "FROM marts.hourly_demand GROUP BY 1, 2")  # fmt: skip
    purchases = {r["category"]: r["purchases"] for r in hourly if r["purchases"]}
    assert purchases == {"laptops": 1, "headphones": 1}
    assert {r["hour_of_day"] for r in hourly if r["category"] == "laptops" and r["purchases"]} == {at.hour}

    # product_performance: revenue, traffic, stock per product.
    performance = {r["product_id"]: r for r in query(db, "SELECT * FROM marts.product_performance")}
    assert len(performance) == 30
    p007 = performance["P007"]
    assert (p007["product_views"], p007["purchases"], p007["revenue"]) == (2, 1, Decimal("1999.99"))
    assert (p007["stock_on_hand"], p007["units_sold"], p007["sessions"], p007["visitors"]) == (1499, 1, 2, 1)
    assert p007["gross_profit"] == Decimal("1999.99") - PRODUCTS_BY_ID["P007"].unit_cost
    assert performance["P025"]["stock_on_hand"] == 1500 - 5 + 40
    assert (performance["P028"]["stock_on_hand"], performance["P028"]["warehouses_out_of_stock"]) == (1000, 1)
    assert (performance["P030"]["stock_on_hand"], performance["P030"]["rejected_movements"]) == (1500, 1)
    assert performance["P010"]["purchases"] == 0 and performance["P010"]["revenue"] == 0

    # pricing_analysis: position against fresh competitor prices and the latest recommendation.
    analysis = {r["product_id"]: r for r in query(db, "SELECT * FROM marts.pricing_analysis")}
    assert len(analysis) == 30
    p001 = analysis["P001"]
    assert p001["recommendation_cycle_id"] == latest_cycle
    assert (p001["recommendation"], p001["recommended_price"], p001["recommendation_guardrail"]) == (
        "lower", Decimal("809.99"), "max_step",
    )  # fmt: skip
    assert (p001["price_position"], p001["cheapest_competitor"], p001["competitors_below_us"]) == (
        "most_expensive", "TechMart", 3,
    )  # fmt: skip
    assert (p001["avg_competitor_price"], p001["price_gap_pct"], p001["recommended_change_pct"]) == (
        Decimal("730.00"), Decimal("23.29"), Decimal("-10.00"),
    )  # fmt: skip
    assert (analysis["P002"]["price_position"], analysis["P002"]["recommendation"]) == ("cheapest", "hold")
    p003 = analysis["P003"]
    assert (p003["competitors_observed"], p003["competitors_fresh"], p003["avg_competitor_price"]) == (
        3, 2, Decimal("700.00"),
    )  # fmt: skip
    assert p003["price_position"] == "within_range"
    assert (analysis["P010"]["price_position"], analysis["P010"]["recommendation"]) == ("no_fresh_data", None)

    # The tests bite: a device type the event contract does not know fails the generated accepted values.
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO clickstream_events (event_id, user_id, session_id, event_type, device_type, "
            "event_time) VALUES (gen_random_uuid(), 'U9', gen_random_uuid(), 'page_view', 'smart_tv', now())"
        )
    broken = DbtResource.from_settings(settings).run(
        ["test", "--select", "stg_clickstream", "--target-path", str(target)]
    )
    assert broken.returncode != 0
    failed = [
        (r["unique_id"].split(".")[2], r["failures"])
        for r in json.loads((target / "run_results.json").read_text())["results"]
        if r["unique_id"].startswith("test.") and r["status"] != "pass"
    ]
    assert failed == [("accepted_values_stg_clickstream_device_type___device_types_", 1)]


def test_dbt_assets_materialise_through_dagster_downstream_of_the_raw_assets(
    settings: Settings, manifest: dict
) -> None:
    from pricing_platform.assets.dbt import (
        dbt_marts_job,
        dbt_marts_schedule,
        pricing_dbt_models,
    )
    from pricing_platform.assets.pricing import pricing_recommendations
    from pricing_platform.assets.raw_tables import raw_table_specs

    keys = {key.to_user_string() for key in pricing_dbt_models.keys}
    assert keys == MODELS
    deps = {
        k.to_user_string(): {d.to_user_string() for d in v} for k, v in pricing_dbt_models.asset_deps.items()
    }
    assert deps["stg_clickstream"] == {"clickstream_events"}
    assert deps["stg_inventory"] == {"inventory_events"}
    assert deps["stg_products"] == {"products"}
    assert deps["stg_inventory_state"] == {"inventory_state"}
    assert deps["stg_competitor_prices"] == {"competitor_prices_latest"}
    assert deps["product_performance"] == {
        "stg_products",
        "stg_clickstream",
        "stg_inventory",
        "stg_inventory_state",
        "int_product_hours",
        "int_product_sessions",
    }
    assert deps["pricing_analysis"] == {"stg_products", "stg_competitor_prices", "pricing_recommendations"}
    # Every upstream outside dbt is an asset the platform already defines: no stray `raw/...` keys.
    # Registered together as definitions.py will: the graph resolves, the job and schedule load.
    defs = dg.Definitions(
        assets=[*raw_table_specs(), pricing_recommendations, pricing_dbt_models],
        jobs=[dbt_marts_job],
        schedules=[dbt_marts_schedule],
        resources={**build_resources(settings), "dbt": DbtResource.from_settings(settings)},
    )
    graph = defs.resolve_asset_graph()
    defined = {spec.key for spec in raw_table_specs()} | {pricing_recommendations.key}
    upstream = {p for key in pricing_dbt_models.keys for p in graph.get(key).parent_keys} - set(
        pricing_dbt_models.keys
    )
    assert upstream <= defined
    check_targets = {spec.asset_key for spec in pricing_dbt_models.check_specs}
    assert check_targets == set(pricing_dbt_models.keys), "every model carries dbt tests"
    manifest_tests = [n for n in manifest["nodes"] if n.startswith("test.")]
    assert len(list(pricing_dbt_models.check_specs)) == len(manifest_tests)

    # The five-minute run: every model, the marts' tests only.
    dbt = {"dbt": DbtResource.from_settings(settings)}
    result = dg.materialize([pricing_dbt_models], resources=dbt)
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == MODELS
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
    assert {e.asset_key.to_user_string() for e in evaluations} == {
        "daily_funnel_metrics", "product_performance", "pricing_analysis", "hourly_demand",
    }  # fmt: skip
    # The daily rebuild: every model whole, every test.
    full = {"ops": {"pricing_dbt_models": {"config": {"full_refresh": True}}}}
    result = dg.materialize([pricing_dbt_models], resources=dbt, run_config=full)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == len(manifest_tests)
    assert all(e.passed for e in evaluations)

    # The marts job covers every dbt asset; the schedule runs it every 5 minutes, one at a time.
    job = defs.resolve_job_def(dbt_marts_job.name)
    assert set(job.asset_layer.selected_asset_keys) == set(pricing_dbt_models.keys)
    assert dbt_marts_schedule.cron_schedule == "*/5 * * * *"
    assert dbt_marts_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with dg.instance_for_test() as instance:
        for tick, full_refresh in ((datetime(2026, 11, 30, 14, 5, tzinfo=UTC), False),
                                   (datetime(2026, 11, 30, 3, 0, tzinfo=UTC), True)):  # fmt: skip
            context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
            request = dbt_marts_schedule(context)
            assert isinstance(request, dg.RunRequest)
            assert request.run_config["ops"]["pricing_dbt_models"]["config"]["full_refresh"] is full_refresh


def test_dbt_docs_generate(settings: Settings, manifest: dict, tmp_path: Path) -> None:
    index = DbtResource.from_settings(settings).docs(target_path=tmp_path)
    assert index.exists()
    catalog = json.loads((tmp_path / "catalog.json").read_text())
    sources = {node["metadata"]["name"]: node for node in catalog["sources"].values()}
    assert {"products", "clickstream_events", "inventory_events", "inventory_state",
            "competitor_prices_latest", "pricing_recommendations_checked"} <= set(sources)  # fmt: skip
    assert "product_category" in sources["clickstream_events"]["columns"]
    documented = json.loads((tmp_path / "manifest.json").read_text())
    for node in documented["nodes"].values():
        if node["resource_type"] == "model":
            assert node["description"], node["name"]
            assert all(column["description"] for column in node["columns"].values()), node["name"]
