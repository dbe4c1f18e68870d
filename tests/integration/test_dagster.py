"""The Dagster definitions: they load, the asset graph is what we expect, the pricing asset materialises
against a real PostgreSQL with known data, the schedule ticks, the raw-table sensor reports new data."""

import importlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from pricing_platform.assets.pricing import pricing_recommendations, pricing_schedule
from pricing_platform.core.settings import Settings
from pricing_platform.resources import build_resources
from pricing_platform.sensors.raw_tables import observe_raw_tables

pytestmark = pytest.mark.integration
SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "asset_graph.json"
WORKSPACE = Path(__file__).resolve().parents[2] / "deploy" / "dagster" / "workspace.yaml"


def location_snapshot(defs: dg.Definitions) -> dict[str, object]:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "external": not node.is_materializable,
            "kinds": sorted(node.kinds),
        }
    return {
        "assets": assets,
        "checks": sorted(k.to_user_string() for k in graph.asset_check_keys),
        "jobs": sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")),
        "schedules": sorted((s.name, s.cron_schedule) for s in defs.schedules or []),  # type: ignore[union-attr]
        "sensors": sorted(s.name for s in defs.sensors or []),
    }


def asset_graph_snapshot() -> dict[str, object]:
    """Each code location of deploy/dagster/workspace.yaml, by location name."""
    workspace = yaml.safe_load(WORKSPACE.read_text())
    snapshot = {}
    for entry in workspace["load_from"]:
        module = importlib.import_module(entry["python_module"]["module_name"])
        snapshot[entry["python_module"]["location_name"]] = location_snapshot(module.defs)
    return snapshot


def test_definitions_load_and_match_the_asset_graph_snapshot() -> None:
    current = json.loads(json.dumps(asset_graph_snapshot()))
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    assert current == json.loads(SNAPSHOT.read_text()), "asset graph changed: rerun with UPDATE_SNAPSHOTS=1"


def test_a_pricing_run_imports_nothing_heavy() -> None:
    # A run process loads its whole code location before it prices: the pricing engine's must stay lean.
    heavy = ("dagster_dbt", "dbt", "pandas", "pyarrow", "boto3", "duckdb", "great_expectations", "streamlit")
    code = (
        "import sys, pricing_platform.pricing_definitions; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "", f"the pricing location imports {loaded.stdout.strip()}"


def seed_market(conninfo: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(conninfo) as conn:
        rows = []
        for competitor in ("TechMart", "GadgetZone", "ElectroHub"):
            rows.append(
                ("P001", competitor, Decimal("720.00"), now - timedelta(minutes=5))
            )  # 899.99: 25 % above
            rows.append(
                ("P002", competitor, Decimal("1400.00"), now - timedelta(minutes=5))
            )  # 1199.99: below
            rows.append(("P003", competitor, Decimal("699.99"), now - timedelta(minutes=5)))  # at parity
            rows.append(("P004", competitor, Decimal("500.00"), now - timedelta(hours=7)))  # stale only
        conn.cursor().executemany(
            "INSERT INTO competitor_prices_latest (product_id, competitor_name, event_id, "
            "competitor_price, our_price, price_difference, price_difference_pct, event_time) "
            "SELECT %s, %s, gen_random_uuid(), %s, p.current_price, 0, 0, %s "
            "FROM products p WHERE product_id = %s",
            [(pid, comp, price, at, pid) for pid, comp, price, at in rows],
        )
        conn.cursor().executemany(
            "INSERT INTO clickstream_events (event_id, user_id, session_id, event_type, product_id, "
            "product_name, product_category, product_price, device_type, event_time) "
            "VALUES (gen_random_uuid(), 'U1', gen_random_uuid(), 'purchase', 'P002', 'iPhone 15 Pro', "
            "'phones', 1199.99, 'mobile', %s)",
            [(now - timedelta(minutes=m),) for m in range(1, 7)],  # 6 purchases in the last hour
        )


def test_pricing_asset_materialises_expected_decisions(settings: Settings) -> None:
    db = settings.database_conninfo
    seed_market(db)
    resources = build_resources(settings)
    first = dg.materialize([pricing_recommendations], resources=resources)
    assert first.success
    metadata = first.asset_materializations_for_node("pricing_recommendations")[0].metadata
    assert metadata["products_priced"].value == 4
    with psycopg.connect(db) as conn:
        decided = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT product_id, recommendation, recommended_price, guardrail, confidence, reason "
                "FROM pricing_recommendations_latest"
            )
        }
    assert set(decided) == {"P001", "P002", "P003", "P004"}, (
        "P005+ have no competitor data: no recommendation"
    )
    assert decided["P001"][:3] == ("lower", Decimal("809.99"), "max_step")  # 899.99 − 10 % = 809.99
    assert decided["P002"][:3] == ("raise", Decimal("1319.99"), "max_step")  # 1199.99 + 10 % = 1319.99
    assert decided["P003"][:2] == ("hold", Decimal("699.99"))
    assert decided["P004"][:2] == ("hold", Decimal("799.99"))
    assert decided["P004"][2] is None and decided["P004"][3] == Decimal("0.000")
    assert "6 purchases in the last hour → raise to 1319.99" in decided["P002"][4]
    assert "no competitor price fresher than 6 h" in decided["P004"][4]

    second = dg.materialize([pricing_recommendations], resources=resources)
    assert second.success
    with psycopg.connect(db) as conn:
        history, cycles, latest = conn.execute(
            "SELECT count(*), count(DISTINCT cycle_id), "
            "(SELECT count(*) FROM pricing_recommendations_latest) FROM pricing_recommendations"
        ).fetchone()  # type: ignore[misc]
    assert (history, cycles, latest) == (8, 2, 4)


def test_schedule_requests_a_pricing_run_every_minute() -> None:
    assert pricing_schedule.cron_schedule == "* * * * *"
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    result = pricing_schedule.evaluate_tick(context)
    assert result.run_requests is not None and len(result.run_requests) == 1
    assert pricing_schedule.job_name == "pricing_engine_job"


def test_raw_table_sensor_reports_each_new_commit_once(settings: Settings) -> None:
    db = settings.database_conninfo
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO ingest_offsets (consumer_group, topic, partition, next_offset) VALUES "
            "(%s, 'raw.clickstream', 0, 42), (%s, 'raw.competitor_prices', 1, 7)",
            (f"{settings.kafka_group_prefix}-clickstream", f"{settings.kafka_group_prefix}-competitor"),
        )
    resources = build_resources(settings)
    with dg.build_sensor_context(resources=resources) as context:
        first = observe_raw_tables(context)
    reported = sorted(e.asset_key.to_user_string() for e in first.asset_events)
    assert reported == [
        "clickstream_events",
        "competitor_prices",
        "competitor_prices_latest",
        "product_metrics",
    ]
    with dg.build_sensor_context(resources=resources, cursor=first.cursor) as context:
        again = observe_raw_tables(context)
    assert again.asset_events == [], "nothing new committed: nothing reported"
