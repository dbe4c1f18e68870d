"""Loads the catalog into the database: idempotent, safe to run after every migration."""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql

from pricing_platform.core import catalog, tables

# Opening balances are recorded as movements with stable ids, so that stock always equals the sum of
# applied movements, from the very first row.
_OPENING_BALANCE_NAMESPACE = uuid.UUID("6f1c2a52-0c55-4a8e-9d0b-6f8f0c1b9a11")


def opening_balance_event_id(product_id: str, warehouse_id: str) -> uuid.UUID:
    return uuid.uuid5(_OPENING_BALANCE_NAMESPACE, f"{product_id}/{warehouse_id}")


def seed_catalog(conn: psycopg.Connection) -> None:
    """Upsert products (keeping any approved current price), create missing stock slots and metrics rows."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            sql.SQL(
                """
                INSERT INTO {products} AS p
                    (product_id, product_name, category, base_price, current_price, unit_cost)
                VALUES (%s, %s, %s, %s, %s, %s)
                ON CONFLICT (product_id) DO UPDATE
                SET product_name = EXCLUDED.product_name, category = EXCLUDED.category,
                    base_price = EXCLUDED.base_price, unit_cost = EXCLUDED.unit_cost, updated_at = now()
                WHERE (p.product_name, p.category, p.base_price, p.unit_cost)
                   IS DISTINCT FROM (EXCLUDED.product_name, EXCLUDED.category, EXCLUDED.base_price,
                                     EXCLUDED.unit_cost)
                """
            ).format(products=sql.Identifier(tables.PRODUCTS)),
            [
                (p.product_id, p.name, p.category.value, p.base_price, p.base_price, p.unit_cost)
                for p in catalog.PRODUCTS
            ],
        )
        slots = [(p.product_id, w) for p in catalog.PRODUCTS for w in catalog.WAREHOUSES]
        cur.executemany(
            sql.SQL(
                """
                WITH slot AS (
                    INSERT INTO {state} (product_id, warehouse_id, current_stock) VALUES (%s, %s, %s)
                    ON CONFLICT DO NOTHING
                    RETURNING product_id, warehouse_id, current_stock
                )
                INSERT INTO {events} (event_id, product_id, warehouse_id, event_type, quantity_change,
                                      event_time, status, stock_after)
                SELECT %s, product_id, warehouse_id, 'stock_received', current_stock, now(), 'applied',
                       current_stock
                FROM slot
                """
            ).format(
                state=sql.Identifier(tables.INVENTORY_STATE), events=sql.Identifier(tables.INVENTORY_EVENTS)
            ),
            [(pid, wid, catalog.INITIAL_STOCK, opening_balance_event_id(pid, wid)) for pid, wid in slots],
        )
        cur.executemany(
            sql.SQL("INSERT INTO {} (product_id) VALUES (%s) ON CONFLICT DO NOTHING").format(
                sql.Identifier(tables.PRODUCT_METRICS)
            ),
            [(p.product_id,) for p in catalog.PRODUCTS],
        )
