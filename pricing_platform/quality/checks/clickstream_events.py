"""Checks of `clickstream_events`: every shopper event."""

from __future__ import annotations

from typing import Final

from pricing_platform.core import catalog, tables
from pricing_platform.core.catalog import Stream
from pricing_platform.core.events import CLICK_EVENT_TYPES, DEVICE_TYPES
from pricing_platform.quality.checks.streams import no_future_timestamps, stream_checks
from pricing_platform.quality.framework import Dataset, QualityCheck, Severity, gxe, zero

CLICKSTREAM: Final = Dataset(
    name=tables.CLICKSTREAM_EVENTS,
    table=tables.CLICKSTREAM_EVENTS,
    sample_columns=("event_id", "event_type", "product_id", "event_time"),
)

CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck(
        name="clickstream_not_empty",
        asset=tables.CLICKSTREAM_EVENTS,
        dataset=CLICKSTREAM,
        severity=Severity.ERROR,
        description="The clickstream holds events: without it every product looks unsold and the "
        "pricing engine's demand signal is zero.",
        expectation=lambda _th, _scope: gxe.ExpectTableRowCountToBeBetween(min_value=1),
        threshold=lambda _: "at least 1 row",
    ),
    QualityCheck(
        name="clickstream_valid_event_types",
        asset=tables.CLICKSTREAM_EVENTS,
        dataset=CLICKSTREAM,
        severity=Severity.ERROR,
        description="Every shopper event has an event type of the contract "
        f"({', '.join(CLICK_EVENT_TYPES)}). No constraint enforces it; ingest validates it.",
        expectation=lambda _th, _scope: gxe.ExpectColumnValuesToBeInSet(
            column="event_type", value_set=list(CLICK_EVENT_TYPES)
        ),
        threshold=zero("events with an event type outside the contract"),
    ),
    QualityCheck(
        name="clickstream_products_exist",
        asset=tables.CLICKSTREAM_EVENTS,
        dataset=CLICKSTREAM,
        severity=Severity.ERROR,
        description="Every product a shopper event names is a catalog product, the set `products` is "
        "loaded from and ingest validates against (page views may name none). There is no foreign key "
        "on clickstream_events.product_id (kept off for ingest speed).",
        expectation=lambda _th, _scope: gxe.ExpectColumnValuesToBeInSet(
            column="product_id", value_set=[p.product_id for p in catalog.PRODUCTS]
        ),
        threshold=zero("events naming a product outside the catalog"),
    ),
    QualityCheck(
        name="clickstream_valid_device_types",
        asset=tables.CLICKSTREAM_EVENTS,
        dataset=CLICKSTREAM,
        severity=Severity.ERROR,
        description=f"Every shopper event has a device type of the contract ({', '.join(DEVICE_TYPES)}). "
        "No constraint enforces it; ingest validates it.",
        expectation=lambda _th, _scope: gxe.ExpectColumnValuesToBeInSet(
            column="device_type", value_set=list(DEVICE_TYPES)
        ),
        threshold=zero("events with a device type outside the contract"),
    ),
    no_future_timestamps(
        "clickstream_no_future_timestamps",
        CLICKSTREAM,
        "No shopper event is stamped further in the future than ingest allows "
        "(INGEST_MAX_FUTURE_SKEW_S); such events would count as purchases of the coming hour.",
    ),
    *stream_checks(Stream.CLICKSTREAM, tables.CLICKSTREAM_EVENTS, "clickstream"),
)
