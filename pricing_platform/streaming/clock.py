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
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import Producer

from pricing_platform.core import catalog
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


def tick(producer: Producer, topic: catalog.Topic, told_s: float) -> int:
    """One clock record to every partition of `topic`; returns the time told (epoch ms)."""
    told = int(told_s * 1000)
    for partition in range(topic.partitions):
        producer.produce(topic.name, CLOCK_VALUE, CLOCK_KEY.encode(), partition=partition, timestamp=told)
    producer.flush(10)
    metrics.CLOCK_TICKS.inc()
    metrics.LAST_CLOCK.set(told / 1000)
    return told


def run_clock(settings: Settings, progress: InputProgress, stop: threading.Event) -> None:
    if not settings.stream_clock_interval_s:
        return
    # Not idempotent: a clock record sent twice tells the same time twice, and it has no sequence to lose.
    producer = Producer({**settings.kafka_common_config(), "enable.idempotence": False, "linger.ms": 5})
    topic = catalog.CLICKS_BY_SESSION_TOPIC
    while not stop.wait(settings.stream_clock_interval_s):
        told = time_to_tell(progress, settings.stream_clock_lag_s, settings.stream_clock_quiet_s, time.time())
        if told is None:
            continue
        try:
            tick(producer, topic, told)
        except Exception as exc:  # a broker outage must not end the processor; the next tick retries
            log.warning("clock tick to %s failed: %s", topic.name, exc)
