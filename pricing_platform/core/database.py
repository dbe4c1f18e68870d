"""Reads of the operational database that the lowest layers need (ingest validates against the products
table, not only the catalog module, so a product added to the database is accepted without a redeploy)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from pricing_platform.core import tables


def known_product_ids(conn: psycopg.Connection) -> frozenset[str]:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT product_id FROM {}").format(sql.Identifier(tables.PRODUCTS)))
        return frozenset(row[0] for row in cur.fetchall())
