"""Tells every partition of the re-keyed clickstream the time, so sessions close on a partition no shopper
writes to any more.

Session windows close on event time, which only events move forward; a partition that went quiet would
keep its last sessions open until a shopper happened to hash to it again. Every STREAM_CLOCK_INTERVAL_S a
clock record (key `__clock__`) goes to each partition, stamped with the newest event time the processor has
read from the clickstream minus STREAM_CLOCK_LAG_S: the lag covers the skew between the clickstream's
partitions, and following the input (not the wall clock) keeps the clock behind a backlog being caught up
after an outage. When no click has arrived for STREAM_CLOCK_QUIET_S of wall time (the shop is quiet), the
told time follows the wall clock minus the lag instead. Before its first click the processor tells nothing.
A clock record only moves its partition's watermark; an event older than the told time by more than the
session gap plus grace is then late.

Replicas share the re-keyed topic, so they agree on one time: each reports the time it would tell in
`stream_clock_progress` (PostgreSQL) and tells the slowest of the replicas that reported within
STREAM_CLOCK_QUIET_S. A replica that has read no click yet holds everyone back (nobody tells anything)
for its first STREAM_CLOCK_QUIET_S, the time a backlog takes to reach it; after that it is idle (more
replicas than clickstream partitions, or a quiet shop) and withdraws its report. A replica that died stops
holding the others back once its report is that old (its partitions have moved to the others by then).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import UTC, datetime

import psycopg
from confluent_kafka import Producer
from psycopg import sql

from pricing_platform.core import catalog, tables
from pricing_platform.core.settings import Settings
from pricing_platform.streaming import metrics
from pricing_platform.streaming.windows import CLOCK_KEY, CLOCK_VALUE

log = logging.getLogger(__name__)


class InputProgress:
    """What the processor has read from the clickstream: the newest event time, and when (wall clock)."""

    def __init__(self) -> None:
        self.newest_event_s: float | None = None
        self.read_at_s: float = time.time()

    def saw(self, event_time_s: float) -> None:
        self.read_at_s = time.time()
        if self.newest_event_s is None or event_time_s > self.newest_event_s:
            self.newest_event_s = event_time_s


def time_to_tell(progress: InputProgress, lag_s: float, quiet_s: float, now_s: float) -> float | None:
    """Epoch seconds to tell the partitions, or None before the first click: a processor that has read
    nothing may be still joining its group with a backlog waiting, which the wall clock would make late."""
    if progress.newest_event_s is None:
        return None
    told = progress.newest_event_s - lag_s
    if now_s - progress.read_at_s >= quiet_s:
        told = max(told, now_s - lag_s)
    return told


_WITHDRAW = sql.SQL(
    "DELETE FROM {} WHERE consumer_group = %(group)s AND processor_id = %(processor)s"
).format(sql.Identifier(tables.STREAM_CLOCK_PROGRESS))
_REPORT = sql.SQL(
    """
    INSERT INTO {progress} AS p (consumer_group, processor_id, told_at, reported_at)
    VALUES (%(group)s, %(processor)s, %(told)s, now())
    ON CONFLICT (consumer_group, processor_id) DO UPDATE
    SET told_at = EXCLUDED.told_at, reported_at = EXCLUDED.reported_at
    """
).format(progress=sql.Identifier(tables.STREAM_CLOCK_PROGRESS))
# The slowest live replica's time; NULL when one of them has read nothing yet (bool_and: all reported one).
_GROUP_TIME = sql.SQL(
    """
    SELECT CASE WHEN bool_and(told_at IS NOT NULL) THEN min(told_at) END
    FROM {progress}
    WHERE consumer_group = %(group)s AND reported_at > now() - make_interval(secs => %(live_s)s)
    """
).format(progress=sql.Identifier(tables.STREAM_CLOCK_PROGRESS))


def group_time(
    conn: psycopg.Connection,
    group: str,
    processor_id: str,
    own_s: float | None,
    live_s: float,
    *,
    holding: bool,
) -> float | None:
    """Report this replica's time (None: no click read yet; then it holds the others back only while
    `holding`, else it withdraws) and return the time all live replicas agree on: the slowest one's, or
    None while one holds them back or none reported."""
    told = None if own_s is None else datetime.fromtimestamp(own_s, tz=UTC)
    params = {"group": group, "processor": processor_id, "told": told, "live_s": live_s}
    with conn.transaction():
        conn.execute(_WITHDRAW if own_s is None and not holding else _REPORT, params)
        row = conn.execute(_GROUP_TIME, params).fetchone()
    return None if row is None or row[0] is None else row[0].timestamp()


def tick(producer: Producer, topic: catalog.Topic, told_s: float) -> int:
    """One clock record to every partition of `topic`; returns the time told (epoch ms)."""
    told = int(told_s * 1000)
    for partition in range(topic.partitions):
        producer.produce(topic.name, CLOCK_VALUE, CLOCK_KEY.encode(), partition=partition, timestamp=told)
    producer.flush(10)
    metrics.CLOCK_TICKS.inc()
    metrics.LAST_CLOCK.set(told / 1000)
    return told


def run_clock(
    settings: Settings, progress: InputProgress, stop: threading.Event, group: str, processor_id: str
) -> None:
    if not settings.stream_clock_interval_s:
        return
    # Not idempotent: a clock record sent twice tells the same time twice, and it has no sequence to lose.
    producer = Producer({**settings.kafka_common_config(), "enable.idempotence": False, "linger.ms": 5})
    topic = catalog.CLICKS_BY_SESSION_TOPIC
    conn: psycopg.Connection | None = None
    started = time.time()
    while not stop.wait(settings.stream_clock_interval_s):
        now = time.time()
        own = time_to_tell(progress, settings.stream_clock_lag_s, settings.stream_clock_quiet_s, now)
        holding = now - started < settings.stream_clock_quiet_s
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(settings.database_conninfo, autocommit=True, connect_timeout=10)
            told = group_time(conn, group, processor_id, own, settings.stream_clock_quiet_s, holding=holding)
            if told is not None:
                tick(producer, topic, told)
        # A broker or database outage must not end the processor; the next tick retries.
        except Exception as exc:
            log.warning("clock tick to %s failed: %s", topic.name, exc)
            if conn is not None:
                conn.close()
                conn = None
    if conn is not None:  # stopping: hold nobody back
        with contextlib.suppress(psycopg.Error):
            conn.execute(_WITHDRAW, {"group": group, "processor": processor_id})
        conn.close()
