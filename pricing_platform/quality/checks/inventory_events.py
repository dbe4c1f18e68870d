"""Checks of `inventory_events`: every stock movement."""

from __future__ import annotations

from typing import Final

from pricing_platform.core import catalog, tables
from pricing_platform.core.catalog import Stream
from pricing_platform.core.events import INVENTORY_EVENT_TYPES
from pricing_platform.quality.checks.streams import no_future_timestamps, stream_checks
from pricing_platform.quality.framework import Dataset, QualityCheck, Severity, gxe, zero

INVENTORY_EVENTS: Final = Dataset(
    name=tables.INVENTORY_EVENTS,
    table=tables.INVENTORY_EVENTS,
    sample_columns=("event_id", "product_id", "warehouse_id", "quantity_change", "event_time"),
)

CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck(
        name="inventory_events_valid_event_types",
        asset=tables.INVENTORY_EVENTS,
        dataset=INVENTORY_EVENTS,
        severity=Severity.ERROR,
        description="Every stock movement has an event type of the contract "
        f"({', '.join(INVENTORY_EVENT_TYPES)}). No constraint enforces it; ingest validates it.",
        expectation=lambda _th, _scope: gxe.ExpectColumnValuesToBeInSet(
            column="event_type", value_set=list(INVENTORY_EVENT_TYPES)
        ),
        threshold=zero("movements with an event type outside the contract"),
    ),
    QualityCheck(
        name="inventory_events_valid_warehouse_ids",
        asset=tables.INVENTORY_EVENTS,
        dataset=INVENTORY_EVENTS,
        severity=Severity.ERROR,
        description=f"Every stock movement names a catalog warehouse ({', '.join(catalog.WAREHOUSES)}). "
        "No constraint enforces it; ingest validates it. Slots in unknown warehouses are reported by "
        "inventory_slot_count_matches_catalog.",
        expectation=lambda _th, _scope: gxe.ExpectColumnValuesToBeInSet(
            column="warehouse_id", value_set=list(catalog.WAREHOUSES)
        ),
        threshold=zero("movements in a warehouse outside the catalog"),
    ),
    no_future_timestamps(
        "inventory_events_no_future_timestamps",
        INVENTORY_EVENTS,
        "No stock movement is stamped further in the future than ingest allows "
        "(INGEST_MAX_FUTURE_SKEW_S): a producer clock is wrong, or rows were loaded around ingest.",
    ),
    *stream_checks(Stream.INVENTORY, tables.INVENTORY_EVENTS, "inventory"),
)
