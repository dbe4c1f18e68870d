"""The Grafana dashboards as code: `pipeline-health` and `pricing`, written to `deploy/grafana/dashboards/`.

Grafana provisions them from that directory in the compose deployment. The committed JSON is this module's
output (a test compares them), and every query names a metric the platform exports (a test parses them).

    .venv/bin/python -m pricing_platform.observability.grafana     # regenerate the committed JSON
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pricing_platform.core.settings import PROJECT_ROOT

DASHBOARDS_DIR = PROJECT_ROOT / "deploy" / "grafana" / "dashboards"
# The provisioned data source (deploy/grafana/provisioning/datasources/prometheus.yml) has this uid.
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
GRID_WIDTH = 24
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    description: str
    kind: str = "timeseries"  # timeseries | stat | bargauge
    unit: str = "short"
    width: int = 12
    height: int = 8
    stacked: bool = False
    thresholds: tuple[tuple[float | None, str], ...] = ((None, "green"),)
    mappings: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    tags: tuple[str, ...] = ("pricing-platform",)
    refresh: str = "30s"
    time_from: str = "now-3h"
    links: list[dict[str, Any]] = field(default_factory=list)


def _target(query: Query, ref: str) -> dict[str, Any]:
    target: dict[str, Any] = {
        "datasource": DATASOURCE,
        "refId": ref,
        "expr": query.expr,
        "legendFormat": query.legend or "__auto",
        "range": not query.instant,
        "instant": query.instant,
    }
    return target


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    steps = [{"color": color, "value": value} for value, color in panel.thresholds]
    custom: dict[str, Any] = {}
    options: dict[str, Any]
    if panel.kind == "timeseries":
        custom = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 20 if panel.stacked else 0,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if panel.stacked else "none", "group": "A"},
        }
        options = {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    elif panel.kind == "stat":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "auto",
            "justifyMode": "auto",
            "orientation": "auto",
        }
    else:  # bargauge
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "displayMode": "basic",
            "orientation": "horizontal",
            "showUnfilled": True,
        }
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "fieldConfig": {
            "defaults": {
                "unit": panel.unit,
                "custom": custom,
                "mappings": list(panel.mappings),
                "thresholds": {"mode": "absolute", "steps": steps},
                "color": {"mode": "thresholds" if panel.kind != "timeseries" else "palette-classic"},
            },
            "overrides": [],
        },
        "options": options,
        "targets": [_target(q, chr(ord("A") + i)) for i, q in enumerate(panel.queries)],
    }


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    panel_id = 1
    y = 0
    for row in dashboard.rows:
        panels.append(
            {
                "id": panel_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"x": 0, "y": y, "w": GRID_WIDTH, "h": 1},
                "panels": [],
            }
        )
        panel_id += 1
        y += 1
        x, row_height = 0, 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, y, row_height = 0, y + row_height, 0
            panels.append(_panel_json(panel, panel_id, x, y))
            panel_id += 1
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": list(dashboard.tags),
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": dashboard.refresh,
        "time": {"from": dashboard.time_from, "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "links": dashboard.links,
        "panels": panels,
    }


# ---- pipeline health ------------------------------------------------------------------------------------

_EVENTS = "pricing_ingest_events_total"
_LATENCY = "pricing_ingest_event_to_row_latency_seconds_bucket"

PIPELINE_HEALTH = Dashboard(
    uid="pricing-pipeline-health",
    title="Pricing platform · pipeline health",
    description="Events from the simulators through the broker and the ingest workers into PostgreSQL.",
    rows=(
        Row(
            "Throughput",
            (
                Panel(
                    "Events ingested per second, by stream",
                    (
                        Query(
                            f'sum by (stream) (rate({_EVENTS}{{outcome="inserted"}}[{RATE}]))',
                            "{{stream}}",
                        ),
                    ),
                    "Events committed to PostgreSQL (new rows; duplicates, rejections and dead letters "
                    "excluded).",
                    unit="ops",
                    width=8,
                ),
                Panel(
                    "Events produced per second, by stream",
                    (
                        Query(
                            f"sum by (stream) (rate(pricing_simulator_events_produced_total[{RATE}]))",
                            "{{stream}}",
                        ),
                    ),
                    "Events the broker acknowledged to the simulators. Produced above ingested for long "
                    "means the workers fall behind.",
                    unit="ops",
                    width=8,
                ),
                Panel(
                    "Events by outcome",
                    (Query(f"sum by (stream, outcome) (rate({_EVENTS}[{RATE}]))", "{{stream}} {{outcome}}"),),
                    "inserted, duplicate (already stored), rejected (negative stock), dead_lettered.",
                    unit="ops",
                    width=8,
                    stacked=True,
                ),
            ),
        ),
        Row(
            "Latency and lag",
            (
                Panel(
                    "Event → row latency p50 / p99",
                    (
                        Query(
                            f"histogram_quantile(0.5, sum by (stream, le) (rate({_LATENCY}[{RATE}])))",
                            "p50 {{stream}}",
                        ),
                        Query(
                            f"histogram_quantile(0.99, sum by (stream, le) (rate({_LATENCY}[{RATE}])))",
                            "p99 {{stream}}",
                        ),
                    ),
                    "From the event's own timestamp to its committed row (sampled, up to 64 events a "
                    "batch). Alert IngestLatencyHigh fires above 5 s p99.",
                    unit="s",
                    thresholds=((None, "green"), (5, "red")),
                ),
                Panel(
                    "Consumer lag (messages)",
                    (Query("sum by (stream) (pricing_ingest_consumer_lag_messages)", "{{stream}}"),),
                    "High watermark minus the position stored in PostgreSQL, summed over partitions. Exact "
                    "on Apache Kafka; the local Tansu broker's watermarks are unreliable.",
                    width=6,
                ),
                Panel(
                    "Seconds since the last commit",
                    (
                        Query(
                            "time() - max by (stream) (pricing_ingest_last_commit_timestamp_seconds)",
                            "{{stream}}",
                        ),
                    ),
                    "How long ago each stream's newest batch committed; StreamNoEvents fires after 5 min "
                    "without events.",
                    unit="s",
                    width=6,
                    thresholds=((None, "green"), (60, "orange"), (300, "red")),
                ),
                Panel(
                    "Batch commit duration p99",
                    (
                        Query(
                            "histogram_quantile(0.99, sum by (stream, le) "
                            f"(rate(pricing_ingest_batch_duration_seconds_bucket[{RATE}])))",
                            "{{stream}}",
                        ),
                    ),
                    "Time to write and commit one batch (rows, derived state, offsets, dead letters).",
                    unit="s",
                    width=8,
                ),
                Panel(
                    "Events per batch (mean)",
                    (
                        Query(
                            f"sum by (stream) (rate(pricing_ingest_batch_events_sum[{RATE}])) / "
                            f"sum by (stream) (rate(pricing_ingest_batch_events_count[{RATE}]))",
                            "{{stream}}",
                        ),
                    ),
                    "Batches fill up (towards INGEST_BATCH_SIZE) when the workers are busy.",
                    width=8,
                ),
                Panel(
                    "Assigned partitions per worker",
                    (Query("pricing_ingest_assigned_partitions", "{{stream}} {{instance}}"),),
                    "Partitions each worker owns; they move on rebalances when workers join or leave.",
                    width=8,
                ),
            ),
        ),
        Row(
            "Errors",
            (
                Panel(
                    "Dead letters per minute",
                    (
                        Query(
                            f'sum by (stream) (rate({_EVENTS}{{outcome="dead_lettered"}}[{RATE}])) * 60',
                            "{{stream}}",
                        ),
                    ),
                    "Malformed or contract-breaking events stored in dead_letters (the partition keeps "
                    "moving). DeadLetterSpike fires above 1 % of events.",
                    unit="short",
                    width=8,
                    thresholds=((None, "green"), (1, "orange")),
                ),
                Panel(
                    "Database errors and fenced batches per minute",
                    (
                        Query(
                            f"sum by (stream) (rate(pricing_ingest_db_errors_total[{RATE}])) * 60",
                            "db errors {{stream}}",
                        ),
                        Query(
                            f"sum by (stream) (rate(pricing_ingest_fenced_batches_total[{RATE}])) * 60",
                            "fenced {{stream}}",
                        ),
                    ),
                    "Retried batch transactions (PostgreSQL unreachable) and batches rolled back because "
                    "another consumer had taken the partition (a stale owner).",
                    width=8,
                ),
                Panel(
                    "Producer delivery failures per minute",
                    (
                        Query(
                            f"sum by (stream) (rate(pricing_simulator_delivery_failures_total[{RATE}])) * 60",
                            "{{stream}}",
                        ),
                    ),
                    "Simulated events the broker did not acknowledge.",
                    width=8,
                ),
            ),
        ),
        Row(
            "Database and targets",
            (
                Panel(
                    "PostgreSQL connections by state",
                    (
                        Query(
                            'sum by (state) (pg_stat_activity_count{state!="disabled"})',
                            "{{state}}",
                        ),
                        Query("max(pg_settings_max_connections)", "max_connections"),
                    ),
                    "Backends per state from pg_stat_activity (PostgreSQL exporter), against "
                    "max_connections.",
                    width=8,
                    stacked=False,
                ),
                Panel(
                    "Connections by database",
                    (Query("sum by (datname) (pg_stat_activity_count)", "{{datname}}"),),
                    "Which database the connections go to (pricing, dagster, ...).",
                    width=8,
                ),
                Panel(
                    "Longest open transaction",
                    (Query("max(pg_stat_activity_max_tx_duration)", "seconds"),),
                    "A transaction open for minutes holds locks and blocks vacuum.",
                    unit="s",
                    width=8,
                ),
                Panel(
                    "Scrape targets up",
                    (Query("up", "{{job}} {{instance}}", instant=True),),
                    "1: Prometheus reaches the process; 0: it is down or hangs.",
                    kind="stat",
                    width=16,
                    height=6,
                    thresholds=((None, "red"), (1, "green")),
                    mappings=(
                        {
                            "type": "value",
                            "options": {"0": {"text": "DOWN"}, "1": {"text": "UP"}},
                        },
                    ),
                ),
                Panel(
                    "PostgreSQL reachable",
                    (Query("min(pg_up)", "pg_up", instant=True),),
                    "The exporter's own connection to PostgreSQL.",
                    kind="stat",
                    width=8,
                    height=6,
                    thresholds=((None, "red"), (1, "green")),
                    mappings=({"type": "value", "options": {"0": {"text": "DOWN"}, "1": {"text": "UP"}}},),
                ),
            ),
        ),
        Row(
            "Lake export",
            (
                Panel(
                    "Rows in the last export, by stream and day",
                    (Query("pricing_lake_export_rows", "{{stream}} {{partition}}"),),
                    "Rows each partition held at its last export (pushed by the lake export runs).",
                    width=8,
                ),
                Panel(
                    "Bytes in the last export",
                    (Query("pricing_lake_export_bytes", "{{stream}} {{partition}}"),),
                    "Parquet bytes written by each partition's last export.",
                    unit="bytes",
                    width=8,
                ),
                Panel(
                    "Export duration",
                    (Query("pricing_lake_export_duration_seconds", "{{stream}} {{partition}}"),),
                    "Duration of each partition's last export.",
                    unit="s",
                    width=8,
                ),
            ),
        ),
    ),
)


# ---- pricing --------------------------------------------------------------------------------------------

_UNSENT = "pricing_price_feed_unsent_changes"
_OLDEST_UNSENT = "pricing_price_feed_oldest_unsent_age_seconds"

PRICING = Dashboard(
    uid="pricing-engine",
    title="Pricing platform · pricing",
    description="The pricing engine's cycles, its recommendations and guardrails, stock-outs, the outbound "
    "price feed to the shop, and quality.",
    rows=(
        Row(
            "Now",
            (
                Panel(
                    "Since the last cycle",
                    (Query("time() - max(pricing_engine_last_success_timestamp_seconds)", instant=True),),
                    "A cycle runs every minute; PricingEngineMissingCycles fires after 3 minutes.",
                    kind="stat",
                    unit="s",
                    width=4,
                    height=5,
                    thresholds=((None, "green"), (90, "orange"), (180, "red")),
                ),
                Panel(
                    "Products priced",
                    (Query("max(pricing_engine_products_priced)", instant=True),),
                    "Products with competitor data that received a recommendation in the last cycle.",
                    kind="stat",
                    width=4,
                    height=5,
                ),
                Panel(
                    "Out-of-stock slots",
                    (Query("max(pricing_inventory_out_of_stock_slots)", instant=True),),
                    "Product × warehouse slots at zero stock.",
                    kind="stat",
                    width=4,
                    height=5,
                    thresholds=((None, "green"), (1, "orange"), (5, "red")),
                ),
                Panel(
                    "Failing quality checks",
                    (Query("count(pricing_quality_check_passed == 0) or vector(0)", instant=True),),
                    "Checks whose latest evaluation failed (ERROR and WARN).",
                    kind="stat",
                    width=4,
                    height=5,
                    thresholds=((None, "green"), (1, "red")),
                ),
                Panel(
                    "Open stock alerts",
                    (Query('sum(pricing_open_alerts{kind="stock"}) or vector(0)', instant=True),),
                    "Stock-out and running-out alerts raised by stock_out_sensor and not cleared yet.",
                    kind="stat",
                    width=4,
                    height=5,
                    thresholds=((None, "green"), (1, "orange")),
                ),
                Panel(
                    "Last cycle duration",
                    (Query("max(pricing_engine_cycle_duration_seconds)", instant=True),),
                    "Read + decide + write of the last cycle.",
                    kind="stat",
                    unit="s",
                    width=4,
                    height=5,
                    thresholds=((None, "green"), (10, "orange"), (30, "red")),
                ),
            ),
        ),
        Row(
            "Recommendations",
            (
                Panel(
                    "Recommendations by type",
                    (
                        Query(
                            "sum by (recommendation) (pricing_engine_recommendations)",
                            "{{recommendation}}",
                        ),
                    ),
                    "raise / lower / hold in each cycle.",
                    stacked=True,
                ),
                Panel(
                    "Guardrail hits",
                    (Query("sum by (guardrail) (pricing_engine_guardrail_hits)", "{{guardrail}}"),),
                    "Recommendations bound by max_step, price_ending or min_margin in each cycle.",
                ),
                Panel(
                    "Cycle duration by phase",
                    (
                        Query("max by (phase) (pricing_engine_cycle_phase_duration_seconds)", "{{phase}}"),
                        Query("max(pricing_engine_cycle_duration_seconds)", "total"),
                    ),
                    "Read (the input query), decide (numpy), write (COPY of the cycle's rows).",
                    unit="s",
                ),
                Panel(
                    "Products priced per cycle",
                    (Query("max(pricing_engine_products_priced)", "products"),),
                    "Products with competitor data.",
                ),
            ),
        ),
        Row(
            "Stock and alerts",
            (
                Panel(
                    "Stock-outs",
                    (
                        Query("max(pricing_inventory_out_of_stock_slots)", "slots at zero"),
                        Query("max(pricing_inventory_out_of_stock_products)", "products at zero somewhere"),
                    ),
                    "Read from inventory_state at the end of every pricing cycle.",
                ),
                Panel(
                    "Open alerts by kind and severity",
                    (Query("sum by (kind, severity) (pricing_open_alerts)", "{{kind}} {{severity}}"),),
                    "Alerts in the alerts table that have not cleared (stock, competitor_undercut, "
                    "asset_check).",
                    stacked=True,
                ),
            ),
        ),
        Row(
            "Price feed (outbox → relay → pricing.price_changes → storefront)",
            (
                Panel(
                    "Unsent price changes (relay lag)",
                    (Query(f"max({_UNSENT})", "unsent changes"),),
                    "Applied price changes in the outbox that no relay has published yet (all lanes; every "
                    "relay reports the same backlog). Above zero for more than a few seconds: the shop still "
                    "shows old prices.",
                    width=8,
                ),
                Panel(
                    "Age of the oldest unsent change",
                    (Query(f"max({_OLDEST_UNSENT})", "oldest unsent"),),
                    "How long the oldest unpublished change has waited (0 when none). PriceFeedRelayLagging "
                    "fires above 60 s for 2 minutes.",
                    unit="s",
                    width=8,
                    thresholds=((None, "green"), (10, "orange"), (60, "red")),
                ),
                Panel(
                    "Feed messages published per minute, by kind",
                    (
                        Query(
                            f"sum by (kind) (rate(pricing_price_feed_published_total[{RATE}])) * 60",
                            "{{kind}}",
                        ),
                    ),
                    "Messages the broker acknowledged to the relays: change (one per applied price change) "
                    "and snapshot (every price, every PRICE_FEED_SNAPSHOT_INTERVAL_S).",
                    width=8,
                    stacked=True,
                ),
                Panel(
                    "Storefront price by product",
                    (Query("max by (product_id) (pricing_storefront_price)", "{{product_id}}"),),
                    "The price the shop's storefront applied from the feed and shows shoppers now: a step "
                    "here is an approved change arriving at the shop.",
                    unit="none",  # currency-free money, as in the feed
                    width=12,
                ),
                Panel(
                    "Refused or undelivered feed messages per minute",
                    (
                        Query(
                            f"sum(rate(pricing_price_feed_refused_total[{RATE}])) * 60",
                            "refused by a relay",
                        ),
                        Query(
                            f"sum(rate(pricing_price_feed_delivery_failures_total[{RATE}])) * 60",
                            "not acknowledged (republished)",
                        ),
                        Query(
                            f"sum by (reason) (rate(pricing_storefront_refused_total[{RATE}])) * 60",
                            "refused by the storefront: {{reason}}",
                        ),
                    ),
                    "Outbox rows breaking the feed's contract (price_change_outbox.refused_reason), "
                    "messages the broker did not acknowledge, and messages the storefront refused "
                    "(StorefrontRefusingPrices).",
                    width=6,
                ),
                Panel(
                    "Lanes held per relay",
                    (Query("pricing_price_feed_lanes_held", "{{instance}}"),),
                    "The outbox's 16 lanes shared between the running relays; each product's changes are "
                    "published by the relay holding its lane.",
                    width=6,
                ),
            ),
        ),
        Row(
            "Data quality",
            (
                Panel(
                    "Quality checks (1 pass, 0 fail)",
                    (Query("min by (check) (pricing_quality_check_passed)", "{{check}}", instant=True),),
                    "Latest evaluation of each data-quality check.",
                    kind="bargauge",
                    width=12,
                    height=14,
                    thresholds=((None, "red"), (1, "green")),
                ),
                Panel(
                    "Offending rows by check",
                    (
                        Query(
                            "max by (check) (pricing_quality_check_offending_rows) > 0",
                            "{{check}}",
                        ),
                    ),
                    "Rows found by failing or warning checks (only checks with offending rows shown).",
                    width=12,
                    height=7,
                ),
                Panel(
                    "Since each check last ran",
                    (
                        Query(
                            "time() - max by (check) (pricing_quality_check_last_run_timestamp_seconds)",
                            "{{check}}",
                        ),
                    ),
                    "Recommendation checks run every minute, raw-table checks every 5 minutes.",
                    unit="s",
                    width=12,
                    height=7,
                ),
            ),
        ),
    ),
)

DASHBOARDS = {"pipeline-health": PIPELINE_HEALTH, "pricing": PRICING}


def render(dashboard: Dashboard) -> str:
    return json.dumps(dashboard_json(dashboard), indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """file name → JSON text of every dashboard."""
    return {f"{name}.json": render(dashboard) for name, dashboard in DASHBOARDS.items()}


def panel_queries(document: dict[str, Any]) -> dict[str, str]:
    """ "<dashboard> / <panel> / <refId>" → PromQL of every query in a dashboard JSON document."""
    found = {}
    for panel in document["panels"]:
        for target in panel.get("targets", []):
            found[f"{document['title']} / {panel['title']} / {target['refId']}"] = target["expr"]
    return found


def write(directory: Path = DASHBOARDS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else DASHBOARDS_DIR):
        print(path)
