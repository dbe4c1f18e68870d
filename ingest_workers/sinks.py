"""Per-stream writers. Each runs inside the batch transaction: it lands the events and applies the derived
state from exactly the rows it inserted, so a redelivered or duplicated event can never count twice."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Protocol, TypeVar

import msgspec
import pgpq
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import errors, sql

from ingest_workers.click_rows import COPY_SCHEMA, ClickRows, rows_from_events
from pricing_platform.core import tables
from pricing_platform.core.events import (
    CartAbandonment,
    ClickstreamEvent,
    CompetitorPriceEvent,
    Event,
    FunnelMinute,
    InventoryEvent,
    ShopperSession,
)


@dataclass(frozen=True, slots=True)
class SinkResult:
    inserted: int
    duplicates: int
    rejected: int = 0


class Sink(Protocol):
    event_type: ClassVar[type]

    def write(self, cur: psycopg.Cursor, events: Sequence[Event]) -> SinkResult: ...


def existing_ids(cur: psycopg.Cursor, table: str, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    cur.execute(
        sql.SQL("SELECT event_id FROM {} WHERE event_id = ANY(%s)").format(sql.Identifier(table)), (ids,)
    )
    return {row[0] for row in cur.fetchall()}


E = TypeVar("E", ClickstreamEvent, InventoryEvent, CompetitorPriceEvent)


def _drop_duplicates(cur: psycopg.Cursor, table: str, events: Sequence[E]) -> list[E]:
    """Events whose id is neither stored already nor repeated earlier in the batch."""
    seen = existing_ids(cur, table, [e.event_id for e in events])
    fresh: list[E] = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            fresh.append(event)
    return fresh


class ClickstreamSink:
    """COPY (binary, encoded from Arrow columns by pgpq) straight into the table inside a savepoint; only if
    an event id is already there (a producer retry) fall back to filtering duplicates out and COPY again.
    Takes `ClickRows` (the workers' batches) or decoded events."""

    event_type: ClassVar[type] = ClickstreamEvent
    # Struct fields in declaration order are the table's columns (timestamp → event_time).
    COPY = sql.SQL(
        "COPY {} (event_id, user_id, session_id, event_type, product_id, product_name, product_category, "
        "product_price, device_type, event_time) FROM STDIN (FORMAT BINARY)"
    ).format(sql.Identifier(tables.CLICKSTREAM_EVENTS))
    COPY_TYPES = ("uuid", "text", "uuid", "text", "text", "text", "text", "numeric", "text", "timestamptz")
    _METRICS = sql.SQL(
        """
        INSERT INTO {metrics} AS m (product_id, product_views, cart_adds, cart_removes, purchases, revenue,
                                    last_event_at, updated_at)
        SELECT *, now() FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],
                                    %s::numeric[], %s::timestamptz[])
        ON CONFLICT (product_id) DO UPDATE SET
            product_views = m.product_views + EXCLUDED.product_views,
            cart_adds = m.cart_adds + EXCLUDED.cart_adds,
            cart_removes = m.cart_removes + EXCLUDED.cart_removes,
            purchases = m.purchases + EXCLUDED.purchases,
            revenue = m.revenue + EXCLUDED.revenue,
            last_event_at = GREATEST(m.last_event_at, EXCLUDED.last_event_at),
            updated_at = now()
        """
    ).format(metrics=sql.Identifier(tables.PRODUCT_METRICS))
    _COUNTERS: ClassVar[tuple[str, ...]] = ("product_view", "add_to_cart", "remove_from_cart", "purchase")

    def write(self, cur: psycopg.Cursor, events: Sequence[ClickstreamEvent] | ClickRows) -> SinkResult:
        rows = events if isinstance(events, ClickRows) else rows_from_events(events)
        if not len(rows):
            return SinkResult(0, 0)
        try:
            with cur.connection.transaction():
                self._copy(cur, rows)
            fresh = rows
        except errors.UniqueViolation:
            fresh = self._drop_duplicates(cur, rows)
            self._copy(cur, fresh)
        self._apply_metrics(cur, fresh)
        return SinkResult(len(fresh), len(rows) - len(fresh))

    _ODD_PRICES = sql.SQL(
        "UPDATE {} AS t SET product_price = v.price FROM unnest(%s::uuid[], %s::numeric[]) AS v(id, price) "
        "WHERE t.event_id = v.id"
    ).format(sql.Identifier(tables.CLICKSTREAM_EVENTS))

    def _copy(self, cur: psycopg.Cursor, rows: ClickRows) -> None:
        encoder = pgpq.ArrowToPostgresBinaryEncoder(COPY_SCHEMA)
        with cur.copy(self.COPY) as copy:
            copy.write(encoder.write_header())
            copy.write(encoder.write_batch(rows.batch))
            copy.write(encoder.finish())
        if rows.odd_prices:
            ids, prices = zip(*rows.odd_prices.items(), strict=True)
            cur.execute(self._ODD_PRICES, ([uuid.UUID(bytes=i) for i in ids], list(prices)))

    @staticmethod
    def _drop_duplicates(cur: psycopg.Cursor, rows: ClickRows) -> ClickRows:
        """Rows whose id is neither stored already nor repeated earlier in the batch."""
        ids = [uuid.UUID(bytes=b) for b in rows.batch.column("event_id").to_pylist()]
        seen = existing_ids(cur, tables.CLICKSTREAM_EVENTS, ids)
        keep = []
        for index, event_id in enumerate(ids):
            if event_id not in seen:
                seen.add(event_id)
                keep.append(index)
        return rows.take(keep)

    def _apply_metrics(self, cur: psycopg.Cursor, rows: ClickRows) -> None:
        batch = rows.batch
        counted = pc.is_in(batch.column("event_type"), pa.array(self._COUNTERS))
        if not pc.any(counted).as_py():
            return
        table = pa.Table.from_batches([batch.filter(counted)])
        grouped = table.group_by(["product_id", "event_type"], use_threads=False).aggregate(
            [("event_type", "count"), ("product_price", "sum"), ("event_time", "max")]
        )
        counters: dict[str, list] = {}
        for product, kind, count, price_sum, newest in zip(
            *(grouped.column(name).to_pylist() for name in (
                "product_id", "event_type", "event_type_count", "product_price_sum", "event_time_max"
            )),
            strict=True,
        ):  # fmt: skip
            row = counters.get(product)
            if row is None:
                row = counters[product] = [0, 0, 0, 0, Decimal(0), newest]
            row[self._COUNTERS.index(kind)] += count
            if kind == "purchase":
                row[4] += price_sum
            row[5] = max(row[5], newest)
        columns = list(zip(*([pid, *values] for pid, values in counters.items()), strict=True))
        cur.execute(self._METRICS, [list(c) for c in columns])


class InventorySink:
    """Applies movements in order per product × warehouse under row locks. A movement that would take
    stock below zero is stored as rejected, with the reason, and changes nothing."""

    event_type: ClassVar[type] = InventoryEvent
    _LOCK = sql.SQL(
        "SELECT product_id, warehouse_id, current_stock FROM {} "
        "WHERE (product_id, warehouse_id) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
        "ORDER BY product_id, warehouse_id FOR UPDATE"
    ).format(sql.Identifier(tables.INVENTORY_STATE))
    _CREATE_SLOTS = sql.SQL(
        "INSERT INTO {} (product_id, warehouse_id, current_stock) "
        "SELECT * , 0 FROM unnest(%s::text[], %s::text[]) ON CONFLICT DO NOTHING"
    ).format(sql.Identifier(tables.INVENTORY_STATE))
    _COPY = sql.SQL(
        "COPY {} (event_id, product_id, warehouse_id, event_type, quantity_change, event_time, status, "
        "stock_after, reject_reason) FROM STDIN (FORMAT BINARY)"
    ).format(sql.Identifier(tables.INVENTORY_EVENTS))
    _TYPES = ("uuid", "text", "text", "text", "int4", "timestamptz", "text", "int4", "text")
    _UPDATE = sql.SQL(
        "UPDATE {} AS s SET current_stock = u.stock, updated_at = now() "
        "FROM unnest(%s::text[], %s::text[], %s::int[]) AS u(product_id, warehouse_id, stock) "
        "WHERE s.product_id = u.product_id AND s.warehouse_id = u.warehouse_id"
    ).format(sql.Identifier(tables.INVENTORY_STATE))

    def write(self, cur: psycopg.Cursor, events: Sequence[InventoryEvent]) -> SinkResult:
        if not events:
            return SinkResult(0, 0)
        fresh = _drop_duplicates(cur, tables.INVENTORY_EVENTS, events)
        slots = sorted({(e.product_id, e.warehouse_id) for e in fresh})
        if not slots:
            return SinkResult(0, len(events))
        slot_columns = [list(c) for c in zip(*slots, strict=True)]
        # A valid product in a known warehouse may not have a slot yet (a product added after seeding).
        cur.execute(self._CREATE_SLOTS, slot_columns)
        cur.execute(self._LOCK, slot_columns)
        stock = {(pid, wid): qty for pid, wid, qty in cur.fetchall()}
        rows = []
        rejected = 0
        for e in fresh:
            slot = (e.product_id, e.warehouse_id)
            after = stock[slot] + e.quantity_change
            if after < 0:
                rejected += 1
                reason = f"would take stock from {stock[slot]} to {after}; stock cannot go below zero"
                rows.append((e.event_id, *slot, e.event_type, e.quantity_change, e.timestamp, "rejected",
                             stock[slot], reason))  # fmt: skip
                continue
            stock[slot] = after
            rows.append(
                (e.event_id, *slot, e.event_type, e.quantity_change, e.timestamp, "applied", after, None)
            )
        with cur.copy(self._COPY) as copy:
            copy.set_types(self._TYPES)
            for row in rows:
                copy.write_row(row)
        pids, wids = slot_columns
        cur.execute(self._UPDATE, (pids, wids, [stock[s] for s in slots]))
        return SinkResult(len(fresh), len(events) - len(fresh), rejected)


S = TypeVar("S", CompetitorPriceEvent, FunnelMinute)


def _insert_counted(
    cur: psycopg.Cursor, statement: sql.Composed, events: Sequence[S], key: Callable[[S], object]
) -> SinkResult:
    """Run `statement` (an unnest insert answering the count it inserted) on one event per `key`: one
    statement touching a row twice would conflict with itself."""
    if not events:
        return SinkResult(0, 0)
    unique = list({key(e): e for e in reversed(events)}.values())
    cur.execute(statement, [list(c) for c in zip(*(msgspec.structs.astuple(e) for e in unique), strict=True)])
    row = cur.fetchone()
    inserted = int(row[0]) if row else 0
    return SinkResult(inserted, len(events) - inserted)


# Observations of a product × competitor the price gate remembers before the newest (their median is the
# reference a new observation is judged against).
GATE_MEMORY = 5


class CompetitorSink:
    """Appends every observation to the history and moves the latest price per product × competitor
    forward only: an observation older than the stored one (late or out of order) never replaces it."""

    event_type: ClassVar[type] = CompetitorPriceEvent
    _SQL = sql.SQL(
        """
        WITH incoming AS (
            SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::numeric[], %s::numeric[],
                                 %s::numeric[], %s::numeric[], %s::timestamptz[])
                AS t(event_id, product_id, competitor_name, competitor_price, our_price, price_difference,
                     price_difference_pct, event_time)
        ), inserted AS (
            INSERT INTO {history} (event_id, product_id, competitor_name, competitor_price, our_price,
                                   price_difference, price_difference_pct, event_time)
            SELECT * FROM incoming
            ON CONFLICT (event_id) DO NOTHING
            RETURNING *
        ), newest AS (
            SELECT DISTINCT ON (product_id, competitor_name) *
            FROM inserted
            ORDER BY product_id, competitor_name, event_time DESC, event_id DESC
        ), batch AS (
            -- The price gate's memory (migration 0015) counts every observation, also those this batch
            -- lands before its newest: newest first.
            SELECT product_id, competitor_name,
                   array_agg(competitor_price ORDER BY event_time DESC, event_id DESC) AS prices
            FROM inserted
            GROUP BY product_id, competitor_name
        ), moved AS (
            INSERT INTO {latest} AS l (product_id, competitor_name, event_id, competitor_price, our_price,
                                       price_difference, price_difference_pct, event_time, previous_price,
                                       recent_prices, recent_median)
            SELECT n.product_id, n.competitor_name, n.event_id, n.competitor_price, n.our_price,
                   n.price_difference, n.price_difference_pct, n.event_time, b.prices[2],
                   b.prices[2:{last}],
                   (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(b.prices[2:{last}]) x)
            FROM newest n JOIN batch b USING (product_id, competitor_name)
            ON CONFLICT (product_id, competitor_name) DO UPDATE SET
                event_id = EXCLUDED.event_id,
                -- The observations before the newest, up to GATE_MEMORY of them, and their median: the
                -- engine's input query judges the newest by them.
                previous_price = coalesce(EXCLUDED.previous_price, l.competitor_price),
                recent_prices = (EXCLUDED.recent_prices || l.competitor_price || l.recent_prices)[1:{memory}],
                recent_median = (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x)
                                 FROM unnest((EXCLUDED.recent_prices || l.competitor_price
                                              || l.recent_prices)[1:{memory}]) AS x),
                competitor_price = EXCLUDED.competitor_price,
                our_price = EXCLUDED.our_price,
                price_difference = EXCLUDED.price_difference,
                price_difference_pct = EXCLUDED.price_difference_pct,
                event_time = EXCLUDED.event_time,
                updated_at = now()
            WHERE (EXCLUDED.event_time, EXCLUDED.event_id) > (l.event_time, l.event_id)
        )
        SELECT count(*) FROM inserted
        """
    ).format(
        history=sql.Identifier(tables.COMPETITOR_PRICES),
        latest=sql.Identifier(tables.COMPETITOR_PRICES_LATEST),
        memory=sql.Literal(GATE_MEMORY),
        last=sql.Literal(GATE_MEMORY + 1),
    )

    def write(self, cur: psycopg.Cursor, events: Sequence[CompetitorPriceEvent]) -> SinkResult:
        # Within one batch the same id twice would make the CTE insert conflict with itself.
        return _insert_counted(cur, self._SQL, events, key=lambda e: e.event_id)


class _KeyedSink:
    """The stream processor's sessions and abandonments: one row per record, keyed by session id and
    start (its transactions publish each closed window once; the key makes a stray duplicate land once)."""

    event_type: ClassVar[type]
    table: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]
    key: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        self._sql = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING").format(
            sql.Identifier(self.table),
            sql.SQL(", ").join(map(sql.Identifier, self.columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(self.columns)),
            sql.SQL(", ").join(map(sql.Identifier, self.key)),
        )

    def write(self, cur: psycopg.Cursor, events: Sequence[msgspec.Struct]) -> SinkResult:
        if not events:
            return SinkResult(0, 0)
        # Low volume (a row per session), and a list per row does not fit unnest's flat arrays.
        cur.executemany(self._sql, [msgspec.structs.astuple(e) for e in events])
        inserted = cur.rowcount
        return SinkResult(inserted, len(events) - inserted)


class SessionSink(_KeyedSink):
    event_type: ClassVar[type] = ShopperSession
    table: ClassVar[str] = tables.SHOPPER_SESSIONS
    columns: ClassVar[tuple[str, ...]] = ShopperSession.__struct_fields__
    key: ClassVar[tuple[str, ...]] = ("session_id", "started_at")


class AbandonmentSink(_KeyedSink):
    event_type: ClassVar[type] = CartAbandonment
    table: ClassVar[str] = tables.CART_ABANDONMENTS
    columns: ClassVar[tuple[str, ...]] = CartAbandonment.__struct_fields__
    key: ClassVar[tuple[str, ...]] = ("session_id", "first_cart_at")


class FunnelSink:
    """One row per product and minute, keyed like the window it came from."""

    event_type: ClassVar[type] = FunnelMinute
    _SQL = sql.SQL(
        "WITH inserted AS (INSERT INTO {} (product_id, product_category, minute, product_views, cart_adds, "
        "purchases) SELECT * FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::int[], %s::int[], "
        "%s::int[]) ON CONFLICT (product_id, minute) DO NOTHING RETURNING 1) SELECT count(*) FROM inserted"
    ).format(sql.Identifier(tables.FUNNEL_MINUTES))

    def write(self, cur: psycopg.Cursor, events: Sequence[FunnelMinute]) -> SinkResult:
        return _insert_counted(cur, self._SQL, events, key=lambda e: (e.product_id, e.minute))


SINKS: dict[str, type[Sink]] = {
    "clickstream": ClickstreamSink,
    "inventory": InventorySink,
    "competitor": CompetitorSink,
    "sessions": SessionSink,
    "cart_abandonments": AbandonmentSink,
    "funnel_minutes": FunnelSink,
}
