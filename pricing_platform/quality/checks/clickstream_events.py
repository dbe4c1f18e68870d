"""Checks of `clickstream_events`: every shopper event."""

from __future__ import annotations

from pricing_platform.core import tables
from pricing_platform.core.catalog import Stream
from pricing_platform.core.events import CLICK_EVENT_TYPES, DEVICE_TYPES
from pricing_platform.quality.checks.streams import no_future_timestamps, stream_checks
from pricing_platform.quality.framework import QualityCheck, Severity, query, zero

CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck(
        name="clickstream_not_empty",
        asset=tables.CLICKSTREAM_EVENTS,
        severity=Severity.ERROR,
        description="The clickstream holds events: without it every product looks unsold and the "
        "pricing engine's demand signal is zero.",
        query=query(
            "SELECT 'clickstream_events has no rows' AS problem WHERE NOT EXISTS (SELECT 1 FROM {clicks})",
            clicks=tables.CLICKSTREAM_EVENTS,
        ),
        threshold=lambda _: "at least 1 row",
    ),
    QualityCheck(
        name="clickstream_valid_event_types",
        asset=tables.CLICKSTREAM_EVENTS,
        severity=Severity.ERROR,
        description="Every shopper event has an event type of the contract "
        f"({', '.join(CLICK_EVENT_TYPES)}). No constraint enforces it; ingest validates it.",
        query=query(
            "SELECT event_id, event_type, product_id, device_type, event_time FROM {clicks} "
            "WHERE NOT (event_type = ANY(%(event_types)s)) ORDER BY event_time DESC, event_id",
            clicks=tables.CLICKSTREAM_EVENTS,
        ),
        params=lambda _: {"event_types": list(CLICK_EVENT_TYPES)},
        threshold=zero("events with an event type outside the contract"),
    ),
    QualityCheck(
        name="clickstream_products_exist",
        asset=tables.CLICKSTREAM_EVENTS,
        severity=Severity.ERROR,
        description="Every product a shopper event names exists in products (page views may name "
        "none). There is no foreign key on clickstream_events.product_id (kept off for ingest speed).",
        query=query(
            "SELECT c.event_id, c.event_type, c.product_id, c.event_time FROM {clicks} c "
            "WHERE c.product_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM {products} p WHERE p.product_id = c.product_id) "
            "ORDER BY c.event_time DESC, c.event_id",
            clicks=tables.CLICKSTREAM_EVENTS,
            products=tables.PRODUCTS,
        ),
        threshold=zero("events naming a product missing from products"),
    ),
    QualityCheck(
        name="clickstream_valid_device_types",
        asset=tables.CLICKSTREAM_EVENTS,
        severity=Severity.ERROR,
        description=f"Every shopper event has a device type of the contract ({', '.join(DEVICE_TYPES)}). "
        "No constraint enforces it; ingest validates it.",
        query=query(
            "SELECT event_id, event_type, device_type, event_time FROM {clicks} "
            "WHERE NOT (device_type = ANY(%(device_types)s)) ORDER BY event_time DESC, event_id",
            clicks=tables.CLICKSTREAM_EVENTS,
        ),
        params=lambda _: {"device_types": list(DEVICE_TYPES)},
        threshold=zero("events with a device type outside the contract"),
    ),
    no_future_timestamps(
        "clickstream_no_future_timestamps",
        tables.CLICKSTREAM_EVENTS,
        "No shopper event is stamped further in the future than ingest allows "
        "(INGEST_MAX_FUTURE_SKEW_S); such events would count as purchases of the coming hour.",
    ),
    *stream_checks(Stream.CLICKSTREAM, tables.CLICKSTREAM_EVENTS, "clickstream"),
)
