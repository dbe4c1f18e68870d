"""Per-minute counts of landed events and dead letters per stream, kept in PostgreSQL.

Written in each batch's own transaction, so the counts are exact through crashes and replays, and
"events per minute" on the dashboard reads a few rows instead of scanning an event table. Minutes are
landing minutes (the clock when the batch writes its count, just before it commits), not event time.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from pricing_platform.core import tables

_UPSERT = sql.SQL(
    "INSERT INTO {table} (stream, minute, events, dead_letters) "
    "VALUES (%s, date_trunc('minute', clock_timestamp()), %s, %s) "
    "ON CONFLICT (stream, minute) DO UPDATE SET "
    "events = {table}.events + EXCLUDED.events, dead_letters = {table}.dead_letters + EXCLUDED.dead_letters"
).format(table=sql.Identifier(tables.INGEST_THROUGHPUT))


def count_batch(cur: psycopg.Cursor, stream: str, events: int, dead_letters: int) -> None:
    if events or dead_letters:
        cur.execute(_UPSERT, (stream, events, dead_letters))
