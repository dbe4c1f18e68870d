"""Prometheus metrics of the stream processor."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS = Counter(
    "stream_processor_events_total",
    "Clickstream events the processor took in, by outcome (accepted or dead_letter)",
    ["outcome"],
)
WINDOWS_CLOSED = Counter(
    "stream_processor_windows_closed_total",
    "Windows closed and published, by output (sessions, cart_abandonments, funnel_minutes)",
    ["output"],
)
CLOCK_TICKS = Counter(
    "stream_processor_clock_ticks_total", "Clock records sent to tell quiet partitions the time"
)
LAST_CLOCK = Gauge(
    "stream_processor_clock_time_seconds", "The event time the clock last told the partitions (epoch s)"
)
REDELIVERED = Counter(
    "stream_processor_redelivered_total",
    "Messages the broker handed over again at or below an offset already processed (processed again, "
    "idempotently; their offset is not stored twice)",
)
