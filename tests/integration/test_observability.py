"""Metrics end to end with the real Debian packages: Prometheus scrapes a real ingest worker, a Pushgateway
and a PostgreSQL exporter with the configuration `up` generates and loads the alert rules; every dashboard
and alert query evaluates; a pricing cycle, its quality checks and a lake export push their metrics to a
real Pushgateway; an unreachable gateway never fails a run."""

from __future__ import annotations

import logging
import time
import urllib.error
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from pricing_platform.assets.lake import lake_assets
from pricing_platform.assets.pricing import pricing_recommendations
from pricing_platform.assets.quality import quality_checks
from pricing_platform.core import tables
from pricing_platform.core.catalog import Stream
from pricing_platform.core.settings import Settings
from pricing_platform.observability import grafana, prometheus
from pricing_platform.observability.promql import POSTGRES_EXPORTER_METRICS
from pricing_platform.quality.checks import checks_for
from pricing_platform.resources import build_resources
from pricing_platform.resources.lake import LakeResource
from tests.integration.test_dagster import seed_market
from tests.support.factories import CLICK_TOPIC, click, message
from tests.support.monitoring import ServerProcess, http_text, prometheus_api, sample_lines, sample_value
from tests.support.servers import free_port
from tests.support.workers import WorkerProcess, produce, wait_for_count, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def pushgateway(artifacts_dir: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    settings = Settings(_env_file=None, pushgateway_port=port)  # type: ignore[call-arg]
    process = ServerProcess(
        prometheus.pushgateway_argv(settings, tmp_path / "pushgateway.data"),
        port,
        artifacts_dir / "pushgateway.log",
    ).start()
    yield process
    process.stop()


def _substitute_grafana_variables(expr: str) -> str:
    return expr.replace("$__rate_interval", "1m")


def test_prometheus_scrapes_a_worker_the_pushgateway_and_the_exporter_and_loads_the_rules(
    topics: Settings, artifacts_dir: Path, pushgateway: ServerProcess, tmp_path: Path
) -> None:
    # Clickstream is the first stream: its worker serves on INGEST_METRICS_PORT itself.
    settings = topics.model_copy(
        update={
            "ingest_metrics_port": free_port(),
            "pushgateway_port": pushgateway.port,
            "postgres_exporter_port": free_port(),
            "prometheus_port": free_port(),
            "simulator_metrics_port": 0,
            "prometheus_scrape_interval_s": 1,
        }
    )
    log_dir = artifacts_dir / "observability"
    log_dir.mkdir(exist_ok=True)
    clicks = [click(f"P{i % 30 + 1:03d}") for i in range(200)]
    produce(settings, [message(CLICK_TOPIC, e) for e in clicks])
    worker = WorkerProcess(Stream.CLICKSTREAM, settings, log_dir, "metrics-worker").start()
    exporter = ServerProcess(
        prometheus.postgres_exporter_argv(settings),
        settings.postgres_exporter_port,
        log_dir / "postgres-exporter.log",
        env={"DATA_SOURCE_NAME": prometheus.exporter_dsn(settings.database_conninfo)},
    ).start()
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus.local_config(settings)))
    server = ServerProcess(
        prometheus.prometheus_argv(settings, config, tmp_path / "data"),
        settings.prometheus_port,
        log_dir / "prometheus.log",
    ).start()
    try:
        wait_for_count(settings.database_conninfo, "clickstream_events", len(clicks), logs=worker.log)

        # The exporter's series the dashboards and rules use exist on a real scrape.
        exposition = http_text(f"{exporter.url}/metrics")
        for name in POSTGRES_EXPORTER_METRICS:
            assert sample_lines(exposition, name), f"{name} not in the PostgreSQL exporter's scrape"
        assert sample_value(exposition, "pg_up") == 1

        expected_up = {"ingest-clickstream", "pushgateway", "postgres-exporter", "prometheus"}
        health: dict[str, str] = {}

        def targets_up() -> bool:
            active = prometheus_api(server.url, "targets")["activeTargets"]
            health.clear()
            health.update({t["labels"]["job"]: t["health"] for t in active})
            scraped = "unknown" not in health.values()
            return scraped and all(health.get(job) == "up" for job in expected_up)

        wait_until(targets_up, 30, "every target scraped, the running ones up", lambda: str(health))
        # Workers that this test does not run are configured but down: exactly the stack's jobs exist.
        assert set(health) == set(prometheus.local_targets(settings))
        assert health["ingest-inventory"] == "down"

        query = 'sum(pricing_ingest_events_total{job="ingest-clickstream", outcome="inserted"})'
        value: list[float] = []

        def counted() -> bool:
            result = prometheus_api(server.url, "query", query=query)["result"]
            value[:] = [float(result[0]["value"][1])] if result else []
            return value == [float(len(clicks))]

        wait_until(counted, 20, "the worker's event counter in Prometheus", lambda: str(value))

        groups = {g["name"] for g in prometheus_api(server.url, "rules")["groups"]}
        rule_file = yaml.safe_load(prometheus.ALERT_RULES.read_text())
        assert groups == {g["name"] for g in rule_file["groups"]}, "the alert rules are loaded"

        # Every dashboard and alert query is valid PromQL for this Prometheus.
        exprs = {f"rule {r['alert']}": r["expr"] for g in rule_file["groups"] for r in g["rules"]} | {
            where: _substitute_grafana_variables(expr)
            for name, document in grafana.DASHBOARDS.items()
            for where, expr in grafana.panel_queries(grafana.dashboard_json(document)).items()
        }
        refused = {}
        for where, expr in exprs.items():
            try:
                prometheus_api(server.url, "query", query=expr)
            except urllib.error.HTTPError as exc:  # 400: not valid PromQL
                refused[where] = exc.read().decode()
        assert refused == {}
        # Lag per owned partition, from the consumer's cached watermarks (one gauge per partition).
        scraped = http_text(f"http://127.0.0.1:{settings.ingest_metrics_port}/metrics")
        lag = sample_lines(scraped, "pricing_ingest_consumer_lag_messages")
        assert len(lag) == 6, scraped
        assert all(float(line.rpartition(" ")[2]) >= 0 for line in lag)
    finally:
        server.stop()
        exporter.stop()
        worker.stop_quietly()


def _pushed(pushgateway: ServerProcess) -> str:
    return http_text(f"{pushgateway.url}/metrics")


def test_a_pricing_cycle_its_checks_and_a_lake_export_push_their_metrics(
    settings: Settings, pushgateway: ServerProcess, tmp_path: Path
) -> None:
    pushing = pushgateway
    # The Dagster runs push through their Pushgateway resource: point it at the test's gateway.
    settings = settings.model_copy(update={"pushgateway_url": pushgateway.url})
    db = settings.database_conninfo
    seed_market(db)
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE inventory_state SET current_stock = 0 WHERE product_id = 'P001'")
        conn.execute(
            "INSERT INTO alerts (condition_key, kind, severity, title) "
            "VALUES ('k1', 'stock', 'critical', 'P001 out of stock')"
        )
    resources = build_resources(settings)
    pricing_checks = [
        d
        for d in quality_checks
        if tables.PRICING_RECOMMENDATIONS in {k.asset_key.to_user_string() for k in d.check_keys}
    ]
    before = time.time()
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [pricing_recommendations, *pricing_checks], resources=resources, instance=instance
        )
    assert result.success
    pushed = _pushed(pushing)
    engine = {"job": "pricing_engine"}
    assert sample_value(pushed, "pricing_engine_products_priced", **engine) == 4
    assert sample_value(pushed, "pricing_engine_recommendations", recommendation="lower", **engine) == 1
    assert sample_value(pushed, "pricing_engine_recommendations", recommendation="raise", **engine) == 1
    assert sample_value(pushed, "pricing_engine_recommendations", recommendation="hold", **engine) == 2
    assert sample_value(pushed, "pricing_engine_guardrail_hits", guardrail="max_step", **engine) == 2
    assert sample_value(pushed, "pricing_engine_guardrail_hits", guardrail="min_margin", **engine) == 0
    assert sample_value(pushed, "pricing_inventory_out_of_stock_slots", **engine) == 3  # P001 × 3 warehouses
    assert sample_value(pushed, "pricing_inventory_out_of_stock_products", **engine) == 1
    assert sample_value(pushed, "pricing_open_alerts", kind="stock", severity="critical", **engine) == 1
    assert 0 < (sample_value(pushed, "pricing_engine_cycle_duration_seconds", **engine) or 0) < 30
    finished = sample_value(pushed, "pricing_engine_last_success_timestamp_seconds", **engine)
    assert finished is not None and before <= finished <= time.time()

    for check in checks_for(tables.PRICING_RECOMMENDATIONS):
        labels = {"job": "quality_checks", "check": check.name, "asset": tables.PRICING_RECOMMENDATIONS}
        assert sample_value(pushed, "pricing_quality_check_passed", **labels) == 1, check.name
        assert sample_value(pushed, "pricing_quality_check_offending_rows", **labels) == 0, check.name

    lake_settings = settings.model_copy(update={"lake_backend": "local", "lake_local_dir": tmp_path / "lake"})
    clickstream = next(a for a in lake_assets if a.key == dg.AssetKey(["lake", "clickstream"]))
    today = datetime.now(UTC).date().isoformat()
    with dg.instance_for_test() as instance:
        exported = dg.materialize(
            [clickstream],
            partition_key=today,
            resources={**resources, "lake": LakeResource.from_settings(lake_settings)},
            instance=instance,
        )
    assert exported.success
    pushed = _pushed(pushing)
    lake = {"job": "lake_export", "stream": "clickstream", "partition": today}
    assert sample_value(pushed, "pricing_lake_export_rows", **lake) == 6  # seed_market's purchases
    assert (sample_value(pushed, "pricing_lake_export_bytes", **lake) or 0) > 0
    assert sample_value(pushed, "pricing_lake_export_files", **lake) == 1
    assert sample_value(pushed, "pricing_engine_products_priced", **engine) == 4, "other groups stay"


def test_an_unreachable_pushgateway_never_fails_the_cycle(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = settings.model_copy(update={"pushgateway_url": f"http://127.0.0.1:{free_port()}"})
    seed_market(settings.database_conninfo)
    with caplog.at_level(logging.WARNING), dg.instance_for_test() as instance:
        result = dg.materialize(
            [pricing_recommendations], resources=build_resources(unreachable), instance=instance
        )
    assert result.success
    with psycopg.connect(settings.database_conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM pricing_recommendations").fetchone() == (4,)
    assert any("metrics push to the Pushgateway" in r.getMessage() for r in caplog.records)
