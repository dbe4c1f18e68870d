"""The PostgreSQL tables the ingest workers fill, declared as external assets: Dagster does not produce
them, but lineage starts here, and the `observe_raw_tables` sensor reports each stream's newest ingest
commit as a materialization, so freshness is tracked against the policies below."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import dagster as dg

from pricing_platform.core import tables
from pricing_platform.core.catalog import TOPICS, Stream

RAW_GROUP = "raw"


@dataclass(frozen=True)
class RawTable:
    table: str
    description: str
    stream: Stream
    fail_after: timedelta


FIVE_MIN = timedelta(minutes=5)
RAW_TABLES: tuple[RawTable, ...] = (
    RawTable(tables.CLICKSTREAM_EVENTS, "Every shopper event, exactly once.", Stream.CLICKSTREAM, FIVE_MIN),
    RawTable(tables.PRODUCT_METRICS, "Running view/cart/purchase/revenue counters per product.",
             Stream.CLICKSTREAM, FIVE_MIN),
    RawTable(tables.INVENTORY_EVENTS, "Every stock movement, applied or rejected, with stock after it.",
             Stream.INVENTORY, FIVE_MIN),
    RawTable(tables.INVENTORY_STATE, "Current stock per product × warehouse (never negative).",
             Stream.INVENTORY, FIVE_MIN),
    RawTable(tables.COMPETITOR_PRICES, "Every competitor price observation.", Stream.COMPETITOR, FIVE_MIN),
    RawTable(tables.COMPETITOR_PRICES_LATEST, "Newest price per product × competitor.", Stream.COMPETITOR,
             FIVE_MIN),
)  # fmt: skip

PRODUCTS_SPEC = dg.AssetSpec(
    key=tables.PRODUCTS,
    description="The catalog with our current prices and unit costs (seeded from "
    "pricing_platform/core/catalog.py; prices change when an analyst approves a recommendation).",
    group_name=RAW_GROUP,
    kinds={"postgres"},
    metadata={"table": tables.PRODUCTS},
)


def raw_table_specs() -> list[dg.AssetSpec]:
    specs = [PRODUCTS_SPEC]
    for raw in RAW_TABLES:
        topic = TOPICS[raw.stream].name
        specs.append(
            dg.AssetSpec(
                key=raw.table,
                description=f"{raw.description} Written by the {raw.stream.value} ingest workers "
                f"from {topic}.",
                group_name=RAW_GROUP,
                kinds={"postgres", "kafka"},
                owners=["team:data-engineering"],
                metadata={
                    "table": raw.table,
                    "topic": topic,
                    "producer": f"ingest worker ({raw.stream.value})",
                },
                freshness_policy=dg.FreshnessPolicy.time_window(
                    fail_window=raw.fail_after, warn_window=raw.fail_after / 2.5
                ),
            )
        )
    return specs
