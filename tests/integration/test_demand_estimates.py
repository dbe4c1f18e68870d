"""The `demand_estimates` asset on a real PostgreSQL: it reads views and purchases at the prices shown and
the competitor prices of the window, recovers a known elasticity, flags a product whose price never moved,
replaces the table on each run, and the dashboard's role can read it."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import psycopg
import pytest
from psycopg.rows import dict_row

from pricing_platform.assets.demand import demand_estimates, demand_job, demand_schedule
from pricing_platform.core import roles, tables
from pricing_platform.core.catalog import PRODUCTS_BY_ID
from pricing_platform.core.settings import Settings
from pricing_platform.pricing import experiment_store
from pricing_platform.pricing.demand_store import read_cells
from pricing_platform.resources import build_resources
from tests.support.factories import experiment_with_events

pytestmark = pytest.mark.integration

TRUTH = -2.0
MOVING = ("P001", "P002", "P003")
FIXED = "P004"  # same category, price never moves
HOURS = 24 * 4
VIEWS_PER_HOUR = 120
CONVERSION = 0.05


def seed(conn: psycopg.Connection, now: datetime, rng: np.random.Generator) -> None:
    """Four phones over the last four days: each hour every product is viewed VIEWS_PER_HOUR times at
    its price that hour (the moving ones ±10 % around the base price), purchases drawn with elasticity
    TRUTH at the base price, and three competitor observations per hour."""
    start = (now - timedelta(hours=HOURS)).replace(minute=0, second=0, microsecond=0)
    with conn.cursor() as cur:
        with cur.copy(
            "COPY clickstream_events (event_id, user_id, session_id, event_type, product_id, product_name, "
            "product_category, product_price, device_type, event_time) FROM STDIN"
        ) as copy:
            for pid in (*MOVING, FIXED):
                product = PRODUCTS_BY_ID[pid]
                base = float(product.base_price)
                for h in range(HOURS):
                    at = start + timedelta(hours=h, minutes=10)
                    x = 0.0 if pid == FIXED else float(rng.uniform(-0.1, 0.1))
                    price = round(base * (1 + x), 2)
                    views = int(rng.poisson(VIEWS_PER_HOUR))
                    purchases = int(rng.poisson(views * CONVERSION * math.exp(TRUTH * x)))
                    session = uuid.uuid4()
                    for kind, count in (("product_view", views), ("purchase", purchases)):
                        for i in range(count):
                            copy.write_row((uuid.uuid4(), "U1", session, kind, pid, product.name,
                                            product.category.value, price, "mobile",
                                            at + timedelta(seconds=i)))  # fmt: skip
        with cur.copy(
            "COPY competitor_prices (event_id, product_id, competitor_name, competitor_price, our_price, "
            "price_difference, price_difference_pct, event_time) FROM STDIN"
        ) as copy:
            for pid in (*MOVING, FIXED):
                base = float(PRODUCTS_BY_ID[pid].base_price)
                for h in range(HOURS):
                    theirs = round(base * (1 + float(rng.normal(0, 0.03))), 2)
                    copy.write_row((uuid.uuid4(), pid, "TechMart", theirs, base, theirs - base,
                                    round((theirs - base) / base * 100, 2),
                                    start + timedelta(hours=h, minutes=20)))  # fmt: skip


def materialise(settings: Settings) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        return dg.materialize([demand_estimates], resources=build_resources(settings), instance=instance)


def test_the_asset_learns_a_known_elasticity_and_flags_the_product_that_never_moved(
    settings: Settings,
) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(settings.database_conninfo) as conn:
        seed(conn, now, np.random.default_rng(20261201))
    result = materialise(settings)
    assert result.success
    with psycopg.connect(settings.database_conninfo, row_factory=dict_row) as conn:
        rows = {r["subject"]: r for r in conn.execute(f"SELECT * FROM {tables.DEMAND_ESTIMATES}")}
    assert set(rows) == {"phones", *MOVING, FIXED}, "only what has data is estimated"
    phones = rows["phones"]
    assert phones["source"] == "own"
    assert phones["ci_low"] <= TRUTH <= phones["ci_high"], phones
    assert phones["ci_level"] == settings.demand_ci_level
    assert phones["window_end"] - phones["window_start"] == timedelta(days=settings.demand_window_days)
    assert phones["purchases"] > 1000
    for pid in MOVING:
        assert rows[pid]["source"] in ("own", "shrunk")
        assert rows[pid]["ci_low"] <= TRUTH <= rows[pid]["ci_high"], rows[pid]
        assert rows[pid]["conversion"] == pytest.approx(CONVERSION, rel=0.15)
    fixed = rows[FIXED]
    assert fixed["source"] == "category"
    assert "not enough price variation" in fixed["note"]
    assert fixed["price_points"] == 1
    assert fixed["elasticity"] == pytest.approx(phones["elasticity"])
    [event] = result.asset_materializations_for_node(tables.DEMAND_ESTIMATES)
    assert event.metadata["products_without_price_variation"].value == [FIXED]
    assert "| phones |" in event.metadata["categories"].value  # type: ignore[operator]

    # A second run replaces the rows rather than adding to them, and the dashboard's role reads them.
    assert materialise(settings).success
    with psycopg.connect(roles.role_conninfo(settings.database_conninfo, roles.DASHBOARD_READER)) as conn:
        count = conn.execute(f"SELECT count(*) FROM {tables.DEMAND_ESTIMATES}").fetchone()
    assert count == (5,)


def test_without_any_views_the_table_is_empty_and_the_run_succeeds(settings: Settings) -> None:
    result = materialise(settings)
    assert result.success
    with psycopg.connect(settings.database_conninfo) as conn:
        assert conn.execute(f"SELECT count(*) FROM {tables.DEMAND_ESTIMATES}").fetchone() == (0,)


def test_job_and_schedule_refresh_the_estimates_hourly() -> None:
    assert demand_schedule.cron_schedule == "5 * * * *"
    assert demand_schedule.job_name == demand_job.name


def test_a_finished_experiment_older_than_the_window_still_feeds_the_estimator(database: str) -> None:
    """Its randomised prices are the cleanest variation there is: they stay in the cells after the rolling
    window has moved past them (and a running or recent one is in the window anyway)."""
    now = datetime.now(UTC)
    with psycopg.connect(database, autocommit=True) as conn:
        experiment_id = experiment_with_events(conn, "P003", hours_ago=24 * 40)
        (ends_at,) = conn.execute(
            "SELECT ends_at FROM price_experiments WHERE experiment_id = %s", (experiment_id,)
        ).fetchone()  # type: ignore[misc]
        window = (now - timedelta(days=28), now)
        # While it runs, nothing of it older than the window is read; once finished, all of it is.
        assert len(read_cells(conn, *window)["views"]) == 0
        experiment_store.run_due(conn, ends_at)
        cells = read_cells(conn, *window)
        control, test = conn.execute(
            "SELECT control_price::float8, test_price::float8 FROM price_experiment_arms"
        ).fetchone()  # type: ignore[misc]
    assert set(cells["product_id"]) == {"P003"} and set(cells["price"]) == {control, test}
    assert cells["views"].sum() == 48 * 60
