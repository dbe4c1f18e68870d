"""The registry of the lake's streams: source table, the time column a day is cut on, and the exact Arrow
schema of each column (PostgreSQL type → Arrow type, decided here once)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pyarrow as pa

from pricing_platform.core import tables

UTC_MICROS: Final = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool = True

    @property
    def field(self) -> pa.Field:
        return pa.field(self.name, self.type, nullable=self.nullable)


def _money(name: str, precision: int = 10, scale: int = 2, nullable: bool = False) -> Column:
    return Column(name, pa.decimal128(precision, scale), nullable)


def _text(name: str, nullable: bool = False) -> Column:
    return Column(name, pa.string(), nullable)


def _time(name: str) -> Column:
    return Column(name, UTC_MICROS, nullable=False)


@dataclass(frozen=True)
class LakeStream:
    """One stream of the lake: `name` is its directory and its DuckDB view."""

    name: str
    table: str
    time_column: str
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([c.field for c in self.columns])


CLICKSTREAM = LakeStream(
    "clickstream",
    tables.CLICKSTREAM_EVENTS,
    "event_time",
    (
        _text("event_id"),  # uuid as its canonical text
        _text("user_id"),
        _text("session_id"),
        _text("event_type"),
        _text("product_id", nullable=True),
        _text("product_name", nullable=True),
        _text("product_category", nullable=True),
        _money("product_price", nullable=True),
        _text("device_type"),
        _time("event_time"),
        _time("ingested_at"),
    ),
)
INVENTORY = LakeStream(
    "inventory",
    tables.INVENTORY_EVENTS,
    "event_time",
    (
        _text("event_id"),
        _text("product_id"),
        _text("warehouse_id"),
        _text("event_type"),
        Column("quantity_change", pa.int32(), False),
        _time("event_time"),
        _text("status"),
        Column("stock_after", pa.int32(), False),
        _text("reject_reason", nullable=True),
        _time("ingested_at"),
    ),
)
COMPETITOR_PRICES = LakeStream(
    "competitor_prices",
    tables.COMPETITOR_PRICES,
    "event_time",
    (
        _text("event_id"),
        _text("product_id"),
        _text("competitor_name"),
        _money("competitor_price"),
        _money("our_price"),
        _money("price_difference"),
        _money("price_difference_pct", 8, 2),
        _time("event_time"),
        _time("ingested_at"),
    ),
)
PRICING_RECOMMENDATIONS = LakeStream(
    "pricing_recommendations",
    tables.PRICING_RECOMMENDATIONS,
    "created_at",
    (
        Column("recommendation_id", pa.int64(), False),
        _text("cycle_id"),
        _text("product_id"),
        _money("current_price"),
        _money("competitor_avg_price", nullable=True),
        Column("competitors_seen", pa.int16(), False),
        _money("price_gap_pct", 8, 2, nullable=True),
        Column("demand_velocity", pa.int32(), False),
        _text("recommendation"),
        _money("recommended_price"),
        _money("confidence", 4, 3),
        _text("guardrail", nullable=True),
        _text("reason"),
        _time("created_at"),
    ),
)

STREAMS: Final[dict[str, LakeStream]] = {
    s.name: s for s in (CLICKSTREAM, INVENTORY, COMPETITOR_PRICES, PRICING_RECOMMENDATIONS)
}
