"""The clickstream's Arrow COPY (pgpq) stores exactly what the row-by-row psycopg COPY stored before it,
odd values included, and counts the same product metrics."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from ingest_workers.sinks import ClickstreamSink
from pricing_platform.core.settings import Settings
from tests.support.factories import click

pytestmark = pytest.mark.integration

COLUMNS = (
    "event_id, user_id, session_id, event_type, product_id, product_name, product_category, product_price, "
    "device_type, event_time"
)


def odd_events() -> list:
    purchase = click("P001", "purchase")
    return [
        purchase,
        click("P002", "add_to_cart"),
        click(None, "page_view"),
        purchase.__replace__(event_id=click("P001").event_id, product_price=Decimal("1.255")),
        purchase.__replace__(event_id=click("P001").event_id, product_price=Decimal("1e-25")),
        purchase.__replace__(event_id=click("P001").event_id, user_id="é\t\u2603" * 50),
        click(None, "page_view").__replace__(product_price=Decimal("NaN")),
        click(None, "page_view").__replace__(product_price=Decimal("12.5")),
    ]


def stored(conninfo: str) -> tuple[list[tuple], list[tuple]]:
    with psycopg.connect(conninfo) as conn:
        rows = [
            # NaN equals nothing, itself included: compare its text
            tuple("NaN" if isinstance(v, Decimal) and v.is_nan() else v for v in row)
            for row in conn.execute(f"SELECT {COLUMNS} FROM clickstream_events ORDER BY event_id")
        ]
        metrics = conn.execute(
            "SELECT product_id, product_views, cart_adds, cart_removes, purchases, revenue, last_event_at "
            "FROM product_metrics WHERE last_event_at IS NOT NULL ORDER BY product_id"
        ).fetchall()
    return rows, metrics


def test_arrow_copy_stores_what_the_row_copy_stored(settings: Settings, postgres) -> None:
    events = odd_events()
    row_by_row = postgres.create_database("click_copy_rows", template="pricing_template")
    with psycopg.connect(row_by_row) as conn, conn.cursor() as cur:
        # the previous writer: psycopg's binary COPY of the decoded structs, the same counters
        with cur.copy(ClickstreamSink.COPY) as copy:
            copy.set_types(ClickstreamSink.COPY_TYPES)
            for event in events:
                copy.write_row(tuple(getattr(event, f) for f in event.__struct_fields__))
        for event in events:
            if event.event_type in ("product_view", "add_to_cart", "remove_from_cart", "purchase"):
                column = {"add_to_cart": "cart_adds", "purchase": "purchases"}[event.event_type]
                cur.execute(
                    sql.SQL(
                        "UPDATE product_metrics SET {c} = {c} + 1, revenue = revenue + %s, "
                        "last_event_at = greatest(last_event_at, %s) WHERE product_id = %s"
                    ).format(c=sql.Identifier(column)),
                    (event.product_price if column == "purchases" else 0, event.timestamp, event.product_id),
                )
    with psycopg.connect(settings.database_conninfo) as conn, conn.cursor() as cur:
        result = ClickstreamSink().write(cur, events)
    assert (result.inserted, result.duplicates) == (len(events), 0)
    new_rows, new_metrics = stored(settings.database_conninfo)
    old_rows, old_metrics = stored(row_by_row)
    assert new_rows == old_rows
    assert new_metrics == old_metrics
    by_id = {row[0]: row for row in new_rows}
    assert by_id[events[3].event_id][7] == Decimal("1.26")
    assert by_id[events[6].event_id][7] == "NaN"
