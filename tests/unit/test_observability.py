"""Metrics, Prometheus configuration, alert rules and Grafana dashboards stay valid and consistent: promtool
accepts them, every query names a metric the platform exports, the committed dashboards are the
generator's output, and the local stack runs the monitoring processes on loopback."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pricing_platform.core.settings import PROJECT_ROOT, Settings
from pricing_platform.localstack import stack
from pricing_platform.observability import grafana, prometheus
from pricing_platform.observability.metrics import (
    Push,
    Pushgateway,
    exported_metric_names,
    push_all,
    pushed_registries,
)
from pricing_platform.observability.promql import metric_names, unknown_metrics
from tests.support.servers import free_port

DEPLOY = PROJECT_ROOT / "deploy"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


def alert_rules() -> list[dict[str, object]]:
    document = yaml.safe_load(prometheus.ALERT_RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def deploy_config() -> dict:
    return yaml.safe_load(prometheus.DEPLOY_CONFIG.read_text())


# ---- the PromQL name extractor ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            "histogram_quantile(0.99, sum by (stream, le) "
            "(rate(pricing_ingest_event_to_row_latency_seconds_bucket[$__rate_interval])))",
            {"pricing_ingest_event_to_row_latency_seconds_bucket"},
        ),
        ('sum by (stream) (rate(a_total{outcome="dead_lettered", job=~"x.*"}[5m] offset 1h))', {"a_total"}),
        ("count(b == 0) or vector(0)", {"b"}),
        ("sum(x) / on (job) group_left (instance) max without (le) (y:rule) > 1e3", {"x", "y:rule"}),
        ('time() - max(c{label="sum(not_a_metric)"}) > Inf', {"c"}),
        ("absent(up)", {"up"}),
    ],
)
def test_metric_names_are_told_apart_from_functions_labels_and_strings(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_an_unexported_metric_is_reported() -> None:
    assert unknown_metrics({"panel": "rate(pricing_ingest_events_total[5m]) + pricing_made_up_total"}) == {
        "panel": {"pricing_made_up_total"}
    }


# ---- what the platform exports ----------------------------------------------------------------------------


def test_exported_metric_names_cover_every_component() -> None:
    names = exported_metric_names()
    expected = {
        # ingest workers (scraped)
        "pricing_ingest_events_total",
        "pricing_ingest_event_to_row_latency_seconds_bucket",
        "pricing_ingest_event_to_row_latency_seconds_count",
        "pricing_ingest_consumer_lag_messages",
        "pricing_ingest_last_commit_timestamp_seconds",
        # simulators (scraped)
        "pricing_simulator_events_produced_total",
        # pricing engine (pushed)
        "pricing_engine_cycle_duration_seconds",
        "pricing_engine_products_priced",
        "pricing_engine_recommendations",
        "pricing_engine_guardrail_hits",
        "pricing_engine_last_success_timestamp_seconds",
        "pricing_inventory_out_of_stock_slots",
        # lake export (pushed)
        "pricing_lake_export_rows",
        "pricing_lake_export_bytes",
        "pricing_lake_export_duration_seconds",
        # quality checks (pushed)
        "pricing_quality_check_passed",
    }
    assert expected <= names
    assert "pricing_ingest_events" not in names, "counters are exported with their _total suffix"
    assert all(name.startswith("pricing_") for name in names)


def test_every_pushed_metric_is_a_gauge() -> None:
    for registry in pushed_registries():
        for family in registry.collect():
            assert family.type == "gauge", f"{family.name}: a pushed counter restarts with every run process"


def test_without_a_pushgateway_url_nothing_is_pushed() -> None:
    assert push_all(Pushgateway(url=None, timeout_s=5.0), []) is False


def test_an_unreachable_pushgateway_is_a_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    gateway = Pushgateway(url=f"http://127.0.0.1:{free_port()}", timeout_s=5.0)
    registries = pushed_registries()
    pushes = [Push("a", {}, registries[0]), Push("b", {}, registries[1])]
    with caplog.at_level(logging.WARNING):
        assert push_all(gateway, pushes) is False
    warnings = [r for r in caplog.records if "Pushgateway" in r.getMessage()]
    assert len(warnings) == 1, "the second push is skipped after the first failure"
    assert "job a" in warnings[0].getMessage()


# ---- Prometheus configuration and rules ------------------------------------------------------------------


def test_promtool_accepts_the_alert_rules() -> None:
    checked = _promtool("check", "rules", str(prometheus.ALERT_RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_accepts_the_deploy_config_with_its_rule_file(tmp_path: Path) -> None:
    syntax = _promtool("check", "config", "--syntax-only", str(prometheus.DEPLOY_CONFIG))
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    # Where compose mounts the directory (/etc/prometheus/) does not exist here: check a copy pointing at
    # this directory, which also makes promtool load and check the rule file it names.
    for source in prometheus.DEPLOY_DIR.iterdir():
        text = source.read_text().replace("/etc/prometheus/", f"{tmp_path}/")
        (tmp_path / source.name).write_text(text)
    checked = _promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout + checked.stderr


def test_promtool_accepts_the_generated_local_config(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, local_state_dir=tmp_path)  # type: ignore[call-arg]
    path = prometheus.write_local_config(settings)
    checked = _promtool("check", "config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_deploy_config_scrapes_exactly_the_compose_services() -> None:
    config = deploy_config()
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    targets: dict[str, set[str]] = {}
    for scrape in config["scrape_configs"]:
        found = {t for static in scrape.get("static_configs", []) for t in static["targets"]}
        for sd in scrape.get("dns_sd_configs", []):
            assert sd["type"] == "A", "replicas are discovered by A records"
            found |= {f"{name}:{sd['port']}" for name in sd["names"]}
        targets[scrape["job_name"]] = found
        assert scrape.get("honor_labels", False) == (scrape["job_name"] == "pushgateway")
    assert targets == {
        "ingest-clickstream": {"ingest-clickstream:9101"},
        "ingest-inventory": {"ingest-inventory:9102"},
        "ingest-competitor": {"ingest-competitor:9103"},
        "price-feed-relay": {"price-feed-relay:9105"},
        "stream-processor": {"stream-processor:9106"},
        "ingest-stream-outputs": {"ingest-stream-outputs:9107"},
        "repricer": {"repricer:9108"},
        "simulators": {"simulators:9104"},
        "pushgateway": {"pushgateway:9091"},
        "postgres-exporter": {"postgres-exporter:9187"},
        "prometheus": {"prometheus:9090"},
    }
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert set(prometheus.local_targets(defaults)) == set(targets), "local and compose jobs are the same"
    local_ports = {job: int(t[0].rpartition(":")[2]) for job, t in prometheus.local_targets(defaults).items()}
    assert local_ports == {job: int(next(iter(t)).rpartition(":")[2]) for job, t in targets.items()}


def test_every_alert_rule_is_actionable_and_names_exported_metrics() -> None:
    rules = alert_rules()
    assert {r["alert"] for r in rules} >= {
        "StreamNoEvents",
        "IngestLatencyHigh",
        "DeadLetterSpike",
        "QualityCheckFailed",
        "PricingEngineMissingCycles",
    }
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]  # type: ignore[index]
        annotations = rule["annotations"]
        assert len(annotations["summary"]) > 10 and len(annotations["description"]) > 80, rule["alert"]  # type: ignore[index]
    assert unknown_metrics({str(r["alert"]): str(r["expr"]) for r in rules}) == {}
    missing_cycles = next(r for r in rules if r["alert"] == "PricingEngineMissingCycles")
    assert "pricing_engine_last_success_timestamp_seconds" in str(missing_cycles["expr"])
    assert "> 180" in str(missing_cycles["expr"])


# ---- Grafana ---------------------------------------------------------------------------------------------


def committed_dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(grafana.DASHBOARDS_DIR.glob("*.json"))}


def test_committed_dashboards_are_the_generator_output() -> None:
    rendered = grafana.rendered()
    committed = {p.name: p.read_text() for p in grafana.DASHBOARDS_DIR.glob("*.json")}
    assert committed == rendered, "run .venv/bin/python -m pricing_platform.observability.grafana"


def test_every_panel_query_names_an_exported_metric() -> None:
    dashboards = committed_dashboards()
    assert set(dashboards) == {"pipeline-health.json", "pricing.json"}
    for name, document in dashboards.items():
        queries = grafana.panel_queries(document)
        assert len(queries) >= 10, name
        assert unknown_metrics(queries) == {}, name


def test_dashboards_show_what_the_issue_asks_for() -> None:
    exprs = {
        name: " ".join(grafana.panel_queries(doc).values()) for name, doc in committed_dashboards().items()
    }
    health, pricing = exprs["pipeline-health.json"], exprs["pricing.json"]
    for needle in (
        "pricing_ingest_events_total",  # throughput, dead letters
        "histogram_quantile(0.99",  # latency p99
        "histogram_quantile(0.5",  # latency p50
        "pricing_ingest_consumer_lag_messages",  # lag
        'outcome="dead_lettered"',
        "pg_stat_activity_count",  # DB connections
    ):
        assert needle in health, needle
    for needle in (
        "pricing_engine_recommendations",
        "pricing_engine_guardrail_hits",
        "pricing_inventory_out_of_stock_slots",
        "pricing_quality_check_passed",
        "pricing_engine_cycle_duration_seconds",
        # the outbound price feed: relay lag, oldest unsent change, changes published, the shop's price
        "pricing_price_feed_unsent_changes",
        "pricing_price_feed_oldest_unsent_age_seconds",
        "pricing_price_feed_published_total",
        "pricing_storefront_price",
    ):
        assert needle in pricing, needle


def test_panels_use_the_provisioned_datasource_and_do_not_overlap() -> None:
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["uid"] == grafana.DATASOURCE["uid"]
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/dashboards.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    for name, document in committed_dashboards().items():
        cells: set[tuple[int, int]] = set()
        for panel in document["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"] == grafana.DATASOURCE, (name, panel["title"])
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= grafana.GRID_WIDTH, (name, panel["title"])
            mine = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not mine & cells, f"{name}: {panel['title']} overlaps another panel"
            cells |= mine


# ---- the local stack -------------------------------------------------------------------------------------


def test_up_runs_prometheus_pushgateway_and_exporter_on_loopback(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, local_state_dir=tmp_path)  # type: ignore[call-arg]
    programs = {p.name: p for p in stack.programs(settings)}
    assert programs["prometheus"].command[0] == "/usr/bin/prometheus"
    assert "--web.listen-address=127.0.0.1:9090" in programs["prometheus"].command
    assert f"--storage.tsdb.path={tmp_path / 'prometheus' / 'data'}" in programs["prometheus"].command
    assert "--web.listen-address=127.0.0.1:9091" in programs["pushgateway"].command
    assert "--web.listen-address=127.0.0.1:9187" in programs["postgres-exporter"].command
    assert programs["dagster"].environment["PUSHGATEWAY_URL"] == "http://127.0.0.1:9091"
    simulate = programs["simulators"].command
    assert simulate[simulate.index("--metrics-port") + 1] == "9104"
    shown = {e.name: e.address for e in stack.endpoints(settings)}
    assert shown["Prometheus"] == "http://127.0.0.1:9090"
    assert shown["Pushgateway"] == "http://127.0.0.1:9091"

    config = prometheus.local_config(settings)
    assert config["rule_files"] == [str(prometheus.ALERT_RULES)]
    assert {s["job_name"]: s["static_configs"][0]["targets"] for s in config["scrape_configs"]}[
        "ingest-inventory"
    ] == ["127.0.0.1:9102"]

    external = settings.model_copy(update={"pushgateway_url": "http://gw:9091"})
    assert "PUSHGATEWAY_URL" not in {p.name: p for p in stack.programs(external)}["dagster"].environment
    off = settings.model_copy(update={"local_monitoring": False})
    assert not {"prometheus", "pushgateway", "postgres-exporter"} & {p.name for p in stack.programs(off)}


def test_exporter_dsn_disables_tls_only_when_the_url_does_not_choose() -> None:
    assert prometheus.exporter_dsn("postgresql://pricing@127.0.0.1:5432/pricing") == (
        "postgresql://pricing@127.0.0.1:5432/pricing?sslmode=disable"
    )
    assert prometheus.exporter_dsn("postgresql://u@db/pricing?sslmode=require") == (
        "postgresql://u@db/pricing?sslmode=require"
    )
