"""Prometheus metrics of the price-feed relays (scraped; names are part of the operations contract)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PUBLISHED = Counter(
    "pricing_price_feed_published_total",
    "Price-feed messages acknowledged by the broker, by kind (change, snapshot)",
    ["kind"],
)
REFUSED = Counter("pricing_price_feed_refused_total", "Outbox rows refused for breaking the feed's contract")
DELIVERY_FAILURES = Counter(
    "pricing_price_feed_delivery_failures_total",
    "Messages the broker did not acknowledge (republished on a later pass)",
)
REPLAYED = Counter(
    "pricing_price_feed_replayed_total",
    "Changes published again after a broker outage (consumers drop the copies by version)",
)
UNSENT = Gauge("pricing_price_feed_unsent_changes", "Outbox rows not yet published (all lanes)")
OLDEST_UNSENT_AGE = Gauge(
    "pricing_price_feed_oldest_unsent_age_seconds",
    "Age of the oldest outbox row not yet published (0 when none)",
)
LANES_HELD = Gauge("pricing_price_feed_lanes_held", "Outbox lanes this relay publishes")
LAST_PUBLISH = Gauge(
    "pricing_price_feed_last_publish_timestamp_seconds", "Unix time of this relay's last acknowledged message"
)
