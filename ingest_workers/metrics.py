"""Prometheus metrics of the ingest workers. Names are part of the operations contract: dashboards and
alert rules in `deploy/` refer to them."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "pricing_ingest_events_total",
    "Events consumed, by outcome: inserted, duplicate (already stored), dead_lettered, "
    "rejected (negative stock)",
    ["stream", "outcome"],
)
BATCHES = Counter("pricing_ingest_batches_total", "Batches committed to PostgreSQL", ["stream"])
BATCH_SECONDS = Histogram(
    "pricing_ingest_batch_duration_seconds",
    "Time to write and commit one batch",
    ["stream"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_EVENTS = Histogram(
    "pricing_ingest_batch_events",
    "Messages per batch",
    ["stream"],
    buckets=(1, 10, 100, 1000, 5000, 10000, 20000, 50000),
)
EVENT_TO_ROW_SECONDS = Histogram(
    "pricing_ingest_event_to_row_latency_seconds",
    "Event timestamp to committed row, sampled (up to 64 events per batch)",
    ["stream"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
FENCED = Counter(
    "pricing_ingest_fenced_batches_total",
    "Batches rolled back because another consumer had advanced the partition (stale owner)",
    ["stream"],
)
DB_ERRORS = Counter(
    "pricing_ingest_db_errors_total", "Failed batch transactions that were retried", ["stream"]
)
ASSIGNED = Gauge(
    "pricing_ingest_assigned_partitions", "Partitions currently owned by this worker", ["stream"]
)
LAST_COMMIT = Gauge(
    "pricing_ingest_last_commit_timestamp_seconds", "Unix time of the last committed batch", ["stream"]
)
CONSUMER_LAG = Gauge(
    "pricing_ingest_consumer_lag_messages",
    "Messages in an owned partition not yet committed to PostgreSQL: the high watermark the consumer last "
    "saw minus the stored position (exact on Apache Kafka; the local Tansu broker's watermarks are "
    "unreliable after multi-message batches)",
    ["stream", "partition"],
)
