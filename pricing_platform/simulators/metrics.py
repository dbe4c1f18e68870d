"""Prometheus metrics of the simulators, registered once at import in the default registry."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

EVENTS_PRODUCED: Final = Counter(
    "pricing_simulator_events_produced_total",
    "Simulated events the broker acknowledged, by stream",
    ["stream"],
)
DELIVERY_FAILURES: Final = Counter(
    "pricing_simulator_delivery_failures_total",
    "Simulated events the producer failed to deliver, by stream",
    ["stream"],
)
