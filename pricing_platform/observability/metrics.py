"""Every Prometheus metric the platform exports, in one place.

Two kinds of process export them:

- long-lived processes serve them for scraping: the ingest workers (`ingest_workers/metrics.py`) and the
  simulators (`pricing_platform/simulators/metrics.py`), on their own HTTP ports;
- the Dagster runs (a pricing cycle, a lake export, a quality-check run) live for seconds, far shorter than
  a scrape interval, so they push what their run measured to a Pushgateway (PUSHGATEWAY_URL). Pushed
  values are gauges describing the *last* run (duration, rows, pass/fail, a last-success timestamp): a
  counter restarted at zero by every run process would make `rate()` meaningless.

Each push builds a fresh `CollectorRegistry`, so a process that runs many jobs (tests, the in-process
executor) never carries one run's label sets into the next push. A push replaces its whole group (PUT);
the grouping key is the job, plus the stream and partition for the lake and the check for quality checks,
so one run never erases another partition's or check's values. A failed push is logged as a warning and
never fails the run: metrics must not stop pricing.

`exported_metric_names()` lists every sample name these definitions can produce; the tests compare each
Grafana panel query and alert rule with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

import psycopg
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, start_http_server
from prometheus_client.metrics import MetricWrapperBase
from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.core.decisions import CYCLE_PHASES, GUARDRAILS, RECOMMENDATIONS
from pricing_platform.core.settings import SettingsSection

log = logging.getLogger(__name__)

PRICING_JOB = "pricing_engine"
LAKE_JOB = "lake_export"
QUALITY_JOB = "quality_checks"


class Pushgateway(SettingsSection):
    """Where the batch jobs push their metrics; defaults and descriptions in the settings (PUSHGATEWAY_*)."""

    settings_prefix = "pushgateway_"

    url: str | None  # unset: nothing is pushed
    timeout_s: float


@dataclass(frozen=True)
class Push:
    """One registry to push under one grouping key."""

    job: str
    grouping_key: Mapping[str, str]
    registry: CollectorRegistry


# ---- the pricing engine --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockSnapshot:
    """Stock-outs and open alerts at the end of a cycle, for the pricing dashboard."""

    out_of_stock_slots: int
    out_of_stock_products: int
    open_alerts: Mapping[tuple[str, str], int]  # (kind, severity) → open alerts


def read_stock_snapshot(conn: psycopg.Connection) -> StockSnapshot:
    """Two small aggregates (90 stock slots, a handful of open alerts), read after the cycle commits."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT count(*) FILTER (WHERE current_stock = 0), "
                "count(DISTINCT product_id) FILTER (WHERE current_stock = 0) FROM {}"
            ).format(sql.Identifier(tables.INVENTORY_STATE))
        )
        slots, products = cur.fetchone() or (0, 0)
        cur.execute(
            sql.SQL("SELECT kind, severity, count(*) FROM {} WHERE cleared_at IS NULL GROUP BY 1, 2").format(
                sql.Identifier(tables.ALERTS)
            )
        )
        alerts = {(kind, severity): count for kind, severity, count in cur.fetchall()}
    return StockSnapshot(slots, products, alerts)


def pricing_registry(
    *,
    cycle_seconds: float,
    phase_seconds: Mapping[str, float],
    products_priced: int,
    by_recommendation: Mapping[str, int],
    guardrail_hits: Mapping[str, int],
    stock: StockSnapshot | None,
    finished_at: float,
) -> CollectorRegistry:
    registry = CollectorRegistry()
    Gauge(
        "pricing_engine_cycle_duration_seconds",
        "Duration of the last pricing cycle: read, decide and write",
        registry=registry,
    ).set(cycle_seconds)
    phases = Gauge(
        "pricing_engine_cycle_phase_duration_seconds",
        "Duration of each phase of the last pricing cycle",
        ["phase"],
        registry=registry,
    )
    for phase in CYCLE_PHASES:
        phases.labels(phase=phase).set(phase_seconds.get(phase, 0.0))
    Gauge(
        "pricing_engine_products_priced",
        "Products that received a recommendation in the last cycle",
        registry=registry,
    ).set(products_priced)
    recommendations = Gauge(
        "pricing_engine_recommendations",
        "Recommendations of the last cycle, by type (raise, lower, hold)",
        ["recommendation"],
        registry=registry,
    )
    for kind in (*RECOMMENDATIONS, *(k for k in by_recommendation if k not in RECOMMENDATIONS)):
        recommendations.labels(recommendation=kind).set(by_recommendation.get(kind, 0))
    guardrails = Gauge(
        "pricing_engine_guardrail_hits",
        "Recommendations of the last cycle bound by each guardrail (one may hit several)",
        ["guardrail"],
        registry=registry,
    )
    for name in (*GUARDRAILS, *(g for g in guardrail_hits if g not in GUARDRAILS)):
        guardrails.labels(guardrail=name).set(guardrail_hits.get(name, 0))
    Gauge(
        "pricing_engine_last_success_timestamp_seconds",
        "Unix time the last pricing cycle committed",
        registry=registry,
    ).set(finished_at)
    out_slots = Gauge(
        "pricing_inventory_out_of_stock_slots",
        "Product × warehouse slots at zero stock, read at the end of the last cycle",
        registry=registry,
    )
    out_products = Gauge(
        "pricing_inventory_out_of_stock_products",
        "Products at zero stock in at least one warehouse, read at the end of the last cycle",
        registry=registry,
    )
    open_alerts = Gauge(
        "pricing_open_alerts",
        "Open (not cleared) alerts in the alerts table, by kind and severity",
        ["kind", "severity"],
        registry=registry,
    )
    if stock is not None:
        out_slots.set(stock.out_of_stock_slots)
        out_products.set(stock.out_of_stock_products)
        for (kind, severity), count in stock.open_alerts.items():
            open_alerts.labels(kind=kind, severity=severity).set(count)
    return registry


def push_pricing_cycle(
    gateway: Pushgateway,
    *,
    cycle_seconds: float,
    phase_seconds: Mapping[str, float],
    products_priced: int,
    by_recommendation: Mapping[str, int],
    guardrail_hits: Mapping[str, int],
    stock: StockSnapshot | None,
) -> bool:
    registry = pricing_registry(
        cycle_seconds=cycle_seconds,
        phase_seconds=phase_seconds,
        products_priced=products_priced,
        by_recommendation=by_recommendation,
        guardrail_hits=guardrail_hits,
        stock=stock,
        finished_at=time.time(),
    )
    return push_all(gateway, [Push(PRICING_JOB, {}, registry)])


# ---- the lake export -----------------------------------------------------------------------------------


LAKE_GAUGES = {
    "pricing_lake_export_rows": "Rows written by the last export of the partition",
    "pricing_lake_export_bytes": "Parquet bytes written by the last export of the partition",
    "pricing_lake_export_files": "Files in the partition after its last export",
    "pricing_lake_export_duration_seconds": "Duration of the last export of the partition",
    "pricing_lake_export_last_success_timestamp_seconds": "Unix time the partition was last exported",
}


def lake_registry(
    *, rows: int, bytes_: int, files: int, seconds: float, finished_at: float
) -> CollectorRegistry:
    registry = CollectorRegistry()
    values = (rows, bytes_, files, seconds, finished_at)
    for (name, documentation), value in zip(LAKE_GAUGES.items(), values, strict=True):
        Gauge(name, documentation, registry=registry).set(value)
    return registry


def push_lake_export(
    gateway: Pushgateway, *, stream: str, partition: str, rows: int, bytes_: int, files: int, seconds: float
) -> bool:
    registry = lake_registry(rows=rows, bytes_=bytes_, files=files, seconds=seconds, finished_at=time.time())
    return push_all(gateway, [Push(LAKE_JOB, {"stream": stream, "partition": partition}, registry)])


# ---- the quality checks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckMeasure:
    check: str
    asset: str
    severity: str
    passed: bool
    offending_rows: int
    seconds: float


QUALITY_GAUGES = {
    "pricing_quality_check_passed": "1 when the check's last evaluation passed, 0 when it failed",
    "pricing_quality_check_offending_rows": "Offending rows found by the check's last evaluation",
    "pricing_quality_check_duration_seconds": "Duration of the check's last query",
    "pricing_quality_check_last_run_timestamp_seconds": "Unix time of the check's last evaluation",
}


def quality_registry(measure: CheckMeasure, finished_at: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    labels = {"asset": measure.asset, "check_severity": measure.severity}
    values = (1 if measure.passed else 0, measure.offending_rows, measure.seconds, finished_at)
    for (name, documentation), value in zip(QUALITY_GAUGES.items(), values, strict=True):
        Gauge(name, documentation, list(labels), registry=registry).labels(**labels).set(value)
    return registry


def push_quality_checks(gateway: Pushgateway, measures: Sequence[CheckMeasure]) -> bool:
    finished_at = time.time()
    return push_all(
        gateway,
        [Push(QUALITY_JOB, {"check": m.check}, quality_registry(m, finished_at)) for m in measures],
    )


# ---- pushing and serving -------------------------------------------------------------------------------


def push_all(gateway: Pushgateway, pushes: Iterable[Push]) -> bool:
    """Push each registry (PUT: replaces its group). Returns False when nothing was pushed or a push failed;
    after the first failure the rest are skipped, so an unreachable gateway costs one timeout, not one per
    check."""
    url = gateway.url
    if not url:
        return False
    for push in pushes:
        try:
            push_to_gateway(
                url,
                job=push.job,
                registry=push.registry,
                grouping_key=dict(push.grouping_key),
                timeout=gateway.timeout_s,
            )
        except Exception as exc:
            log.warning(
                "metrics push to the Pushgateway at %s failed (job %s, grouping key %s): %s; "
                "the run goes on without its metrics",
                url, push.job, dict(push.grouping_key), exc,
            )  # fmt: skip
            return False
    return True


def serve_metrics(port: int, host: str, what: str) -> bool:
    """Serve the default registry on host:port; a port already taken (a second `simulate` next to a running
    stack) is logged and the process goes on without its endpoint."""
    if not port:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("%s metrics not served: cannot listen on %s:%s: %s", what, host, port, exc)
        return False
    log.info("%s metrics on http://%s:%s/metrics", what, host, port)
    return True


# ---- what the platform exports -------------------------------------------------------------------------


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def _sample_names(collectors: Iterable[CollectorRegistry | MetricWrapperBase]) -> set[str]:
    names: set[str] = set()
    for collector in collectors:
        for family in (
            collector.describe() if isinstance(collector, MetricWrapperBase) else collector.collect()
        ):
            names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def _module_metrics(module: ModuleType) -> list[MetricWrapperBase]:
    return [value for value in vars(module).values() if isinstance(value, MetricWrapperBase)]


def pushed_registries() -> list[CollectorRegistry]:
    """One registry of each pushed kind, with sample values: their metric names are what matters."""
    stock = StockSnapshot(0, 0, {("stock", "critical"): 0})
    return [
        pricing_registry(
            cycle_seconds=0,
            phase_seconds={},
            products_priced=0,
            by_recommendation={},
            guardrail_hits={},
            stock=stock,
            finished_at=0,
        ),
        lake_registry(rows=0, bytes_=0, files=0, seconds=0, finished_at=0),
        quality_registry(CheckMeasure("c", "a", "error", True, 0, 0), 0),
    ]


def exported_metric_names() -> set[str]:
    """Every sample name the platform's own code exports (scraped or pushed), suffixes included."""
    from ingest_workers import metrics as ingest_metrics
    from pricing_platform.pricefeed import metrics as relay_metrics
    from pricing_platform.simulators import metrics as simulator_metrics

    scraped = [
        *_module_metrics(ingest_metrics),
        *_module_metrics(simulator_metrics),
        *_module_metrics(relay_metrics),
    ]
    return _sample_names(scraped) | _sample_names(pushed_registries())
