"""The local stack's monitoring processes: Prometheus (its configuration generated here, from the same alert
rules as the deployment), the Pushgateway and the PostgreSQL exporter, all Debian packages on 127.0.0.1.

The scrape jobs carry the same names as in `deploy/prometheus/prometheus.yml` (one per compose service), so
the alert rules and dashboards that select on `job` work in both places.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pricing_platform.core.catalog import Stream
from pricing_platform.core.settings import PROJECT_ROOT, Settings

DEPLOY_DIR = PROJECT_ROOT / "deploy" / "prometheus"
DEPLOY_CONFIG = DEPLOY_DIR / "prometheus.yml"
ALERT_RULES = DEPLOY_DIR / "alerts.yml"

PROMETHEUS_BIN = "/usr/bin/prometheus"
PUSHGATEWAY_BIN = "/usr/bin/prometheus-pushgateway"
POSTGRES_EXPORTER_BIN = "/usr/bin/prometheus-postgres-exporter"

# Jobs whose series are relabelled by the pushing job, not by the scrape.
HONOR_LABELS_JOBS = frozenset({"pushgateway"})


def ingest_job(stream: Stream) -> str:
    return f"ingest-{stream.value}"


def local_targets(settings: Settings) -> dict[str, list[str]]:
    """job → targets of the processes `up` runs (a job whose port is 0 is switched off and left out)."""
    host = settings.local_bind_host
    jobs: dict[str, list[str]] = {}
    if settings.ingest_metrics_port:
        for index, stream in enumerate(Stream):
            jobs[ingest_job(stream)] = [f"{host}:{settings.ingest_metrics_port + index}"]
    if settings.price_feed_metrics_port:
        jobs["price-feed-relay"] = [f"{host}:{settings.price_feed_metrics_port}"]
    if settings.stream_metrics_port:
        jobs["stream-processor"] = [f"{host}:{settings.stream_metrics_port}"]
    if settings.stream_landing_metrics_port:
        jobs["ingest-stream-outputs"] = [f"{host}:{settings.stream_landing_metrics_port}"]
    if settings.repricer_metrics_port:
        jobs["repricer"] = [f"{host}:{settings.repricer_metrics_port}"]
    if settings.simulator_metrics_port:
        jobs["simulators"] = [f"{host}:{settings.simulator_metrics_port}"]
    jobs["pushgateway"] = [f"{host}:{settings.pushgateway_port}"]
    jobs["postgres-exporter"] = [f"{host}:{settings.postgres_exporter_port}"]
    jobs["prometheus"] = [f"{host}:{settings.prometheus_port}"]
    return jobs


def local_config(settings: Settings, rule_files: list[Path] | None = None) -> dict[str, Any]:
    interval = f"{settings.prometheus_scrape_interval_s}s"
    scrape_configs = []
    for job, targets in local_targets(settings).items():
        scrape: dict[str, Any] = {"job_name": job, "static_configs": [{"targets": targets}]}
        if job in HONOR_LABELS_JOBS:
            scrape["honor_labels"] = True
        scrape_configs.append(scrape)
    return {
        "global": {
            "scrape_interval": interval,
            "evaluation_interval": interval,
            "external_labels": {"environment": "local"},
        },
        "rule_files": [str(path) for path in (rule_files if rule_files is not None else [ALERT_RULES])],
        "scrape_configs": scrape_configs,
    }


def prometheus_dir(settings: Settings) -> Path:
    return settings.local_state_dir / "prometheus"


def local_config_path(settings: Settings) -> Path:
    return prometheus_dir(settings) / "prometheus.yml"


def write_local_config(settings: Settings) -> Path:
    path = local_config_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON is YAML too: no YAML writer needed at runtime.
    header = "# Written by `pricing-platform up` (pricing_platform/observability/prometheus.py).\n"
    path.write_text(header + json.dumps(local_config(settings), indent=2) + "\n")
    return path


def prometheus_argv(settings: Settings, config: Path, data_dir: Path) -> list[str]:
    return [
        PROMETHEUS_BIN,
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        "--storage.tsdb.retention.time=7d",
        f"--web.listen-address={settings.local_bind_host}:{settings.prometheus_port}",
    ]


def pushgateway_argv(settings: Settings, persistence_file: Path) -> list[str]:
    # Persisted so that the last pricing cycle's values survive a restart of the stack.
    return [
        PUSHGATEWAY_BIN,
        f"--web.listen-address={settings.local_bind_host}:{settings.pushgateway_port}",
        f"--persistence.file={persistence_file}",
        "--persistence.interval=1m",
    ]


def postgres_exporter_argv(settings: Settings) -> list[str]:
    return [
        POSTGRES_EXPORTER_BIN,
        f"--web.listen-address={settings.local_bind_host}:{settings.postgres_exporter_port}",
    ]


def exporter_dsn(database_url: str) -> str:
    """DATABASE_URL for the exporter: its driver (lib/pq) requires TLS unless told otherwise, and the local
    server has none, so `sslmode=disable` is added when the URL sets no sslmode of its own."""
    parts = urlsplit(database_url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("sslmode", "disable")
    return urlunsplit(parts._replace(query=urlencode(query)))


def local_pushgateway_url(settings: Settings) -> str:
    return f"http://{settings.local_bind_host}:{settings.pushgateway_port}"
