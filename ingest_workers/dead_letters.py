"""The dead-letter store: a PostgreSQL table written in the batch's own transaction, so a quarantined
message is recorded exactly when its offset is consumed, with its raw bytes and the reason."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from ingest_workers.batch import DeadLetter
from pricing_platform.core import tables


def write_dead_letters(cur: psycopg.Cursor, group: str, topic: str, letters: Sequence[DeadLetter]) -> None:
    if not letters:
        return
    cur.executemany(
        sql.SQL(
            "INSERT INTO {} (consumer_group, topic, partition, kafka_offset, message_key, payload, "
            "error_kind, reason, message_timestamp) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING"
        ).format(sql.Identifier(tables.DEAD_LETTERS)),
        [
            (
                group,
                topic,
                d.partition,
                d.offset,
                d.key,
                d.payload,
                d.error_kind,
                d.reason,
                d.message_timestamp,
            )
            for d in letters
        ],
    )
