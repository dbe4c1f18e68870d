"""Prometheus metrics of the simulators, registered once at import in the default registry."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

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

# The storefront's side of the price feed: what it shows, since when, and what it refused.
STOREFRONT_PRICE = Gauge(
    "pricing_storefront_price", "Price the storefront shows for a product", ["product_id"]
)
STOREFRONT_PRICE_VERSION = Gauge(
    "pricing_storefront_price_version", "Version of the price the storefront applied", ["product_id"]
)
STOREFRONT_APPLIED_AT = Gauge(
    "pricing_storefront_price_applied_timestamp_seconds",
    "Unix time the storefront applied its current price of a product",
    ["product_id"],
)
STOREFRONT_REFUSED = Counter(
    "pricing_storefront_refused_total",
    "Price-feed messages the storefront refused, by reason: malformed, invalid (breaks the contract)",
    ["reason"],
)
