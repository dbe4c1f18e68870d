"""Consumed positions, stored in PostgreSQL beside the rows they produced.

`advance` is a compare-and-set: it moves a partition's position only from the value this worker last
read or wrote. A worker that stalled, lost its partitions and woke up with a stale batch finds the row
moved by the new owner, and its whole transaction is rolled back (`Fenced`).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from pricing_platform.core import tables

_TABLE = sql.Identifier(tables.INGEST_OFFSETS)


class Fenced(Exception):
    """Another consumer advanced a partition since this worker read its position."""

    def __init__(self, topic: str, partition: int, expected: int | None) -> None:
        super().__init__(
            f"{topic}[{partition}] moved away from offset {expected}: another consumer owns it now"
        )
        self.partition = partition


def load_positions(conn: psycopg.Connection, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    """Stored next offsets of `partitions` (absent: never consumed by this group)."""
    rows = conn.execute(
        sql.SQL(
            "SELECT partition, next_offset FROM {} "
            "WHERE consumer_group = %s AND topic = %s AND partition = ANY(%s)"
        ).format(_TABLE),
        (group, topic, partitions),
    ).fetchall()
    return {partition: next_offset for partition, next_offset in rows}


def advance(
    cur: psycopg.Cursor,
    group: str,
    topic: str,
    moves: dict[int, tuple[int | None, int]],
) -> None:
    """Move each partition from its expected position to its new one, or raise `Fenced`.

    `moves` maps partition → (expected next offset or None when never stored, new next offset).
    Must run inside the batch's transaction; the caller rolls back on `Fenced`.
    """
    for partition, (expected, new) in sorted(moves.items()):
        if expected is None:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (consumer_group, topic, partition, next_offset) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT DO NOTHING"
                ).format(_TABLE),
                (group, topic, partition, new),
            )
        else:
            cur.execute(
                sql.SQL(
                    "UPDATE {} SET next_offset = %s, updated_at = now() "
                    "WHERE consumer_group = %s AND topic = %s AND partition = %s AND next_offset = %s"
                ).format(_TABLE),
                (new, group, topic, partition, expected),
            )
        if cur.rowcount != 1:
            raise Fenced(topic, partition, expected)


def forget_positions(conn: psycopg.Connection, topics: list[str]) -> int:
    """Drop the stored positions of `topics` (all groups), for topics that were recreated empty: their
    offsets start again at 0. Returns how many partition positions were dropped."""
    with conn.transaction():
        return conn.execute(
            sql.SQL("DELETE FROM {} WHERE topic = ANY(%s)").format(_TABLE), (topics,)
        ).rowcount
