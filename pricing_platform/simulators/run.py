"""Produce the simulated streams to Kafka: pacing, delivery accounting, clean shutdown and a live status.

Every event counts as produced only once the broker acknowledged it (the delivery callback), and any
failed delivery makes the run end in an error after the flush, so a run never loses events silently.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any, Final

from confluent_kafka import KafkaError, Message, Producer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pricing_platform.core.catalog import TOPICS, Stream
from pricing_platform.core.events import ENCODER
from pricing_platform.core.settings import Settings
from pricing_platform.simulators.metrics import DELIVERY_FAILURES, EVENTS_PRODUCED
from pricing_platform.simulators.simulation import Simulation
from pricing_platform.simulators.world import utc_now

BATCH: Final = 512  # events per stream between polls: keeps streams interleaved and callbacks flowing
MAX_SLEEP_S: Final = 0.05  # longest nap while pacing, so a signal or status refresh is never late
BUFFER_FULL_POLL_S: Final = 0.05
STATUS_INTERVAL_S: Final = 0.5
FLUSH_STEP_S: Final = 0.5
ABORT_FLUSH_S: Final = 5.0  # after an error, hand over what is queued but do not hang on a dead broker

DeliveryCallback = Callable[[KafkaError | None, Message], None]


def producer_config(settings: Settings) -> dict[str, str | int | bool]:
    return {
        **settings.kafka_common_config(),
        "client.id": "pricing-simulator",
        # Idempotence with acks=all: broker-side retries can neither duplicate nor reorder an event. The
        # local durable broker turns it off (stack.py): there a retry could be acknowledged and not stored,
        # while a duplicate is dropped by id at ingest; one request in flight keeps the order.
        "enable.idempotence": settings.kafka_producer_idempotence,
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": settings.kafka_producer_linger_ms,
        "max.in.flight.requests.per.connection": settings.kafka_producer_max_in_flight,
        # Room for a benchmark's bursts between polls; the default 100k fills in a fraction of a second.
        "queue.buffering.max.messages": 1_000_000,
    }


class StopFlag:
    requested = False


class Deliveries:
    """Broker acknowledgements and failures, counted per stream by the producer's delivery callbacks.

    The callbacks only bump plain ints; `publish_metrics` moves the counts to Prometheus after each poll,
    because a Counter.inc takes a lock and would add a third to the cost of every callback.
    """

    def __init__(self, streams: Sequence[Stream]) -> None:
        self.delivered: dict[Stream, int] = dict.fromkeys(streams, 0)
        self.failed: dict[Stream, int] = dict.fromkeys(streams, 0)
        self.first_error: str | None = None
        self._published = {s: (0, 0) for s in streams}

    @property
    def failures(self) -> int:
        return sum(self.failed.values())

    def callback(self, stream: Stream) -> DeliveryCallback:
        delivered, failed = self.delivered, self.failed

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                delivered[stream] += 1
                return
            failed[stream] += 1
            if self.first_error is None:
                self.first_error = f"{stream.value}: {err}"

        return on_delivery

    def publish_metrics(self) -> None:
        for stream, (delivered, failed) in self._published.items():
            now_delivered, now_failed = self.delivered[stream], self.failed[stream]
            if now_delivered != delivered:
                EVENTS_PRODUCED.labels(stream=stream.value).inc(now_delivered - delivered)
            if now_failed != failed:
                DELIVERY_FAILURES.labels(stream=stream.value).inc(now_failed - failed)
            self._published[stream] = (now_delivered, now_failed)


class Status:
    """The rich live status: events/s, sent and acknowledged per stream, refreshed a few times a second."""

    def __init__(
        self, streams: Sequence[Stream], sent: dict[Stream, int], deliveries: Deliveries, enabled: bool
    ) -> None:
        self._streams = streams
        self._sent = sent
        self._deliveries = deliveries
        self._last_sent = dict(sent)
        self._rates = dict.fromkeys(streams, 0.0)
        self._last_at = time.monotonic()
        self.phase = "producing"
        # auto_refresh off: we refresh from the produce loop, so no render thread competes with it.
        self._live = Live(console=Console(stderr=True), auto_refresh=False) if enabled else None

    def __enter__(self) -> Status:
        if self._live is not None:
            self._live.start()
            self._live.update(self._render(), refresh=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self.update(time.monotonic(), force=True)
            self._live.stop()

    def update(self, now: float, *, force: bool = False) -> None:
        if self._live is None or (now - self._last_at < STATUS_INTERVAL_S and not force):
            return
        elapsed = max(now - self._last_at, 1e-9)
        for stream in self._streams:
            self._rates[stream] = (self._sent[stream] - self._last_sent[stream]) / elapsed
            self._last_sent[stream] = self._sent[stream]
        self._last_at = now
        self._live.update(self._render(), refresh=True)

    def _render(self) -> Table:
        table = Table.grid(padding=(0, 3))
        for stream in self._streams:
            table.add_row(
                Text(stream.value, style="bold"),
                f"{self._rates[stream]:>10,.0f} ev/s",
                f"{self._sent[stream]:>12,} sent",
                f"{self._deliveries.delivered[stream]:>12,} acked",
            )
        failures = self._deliveries.failures
        table.add_row(
            Text(self.phase, style="dim"),
            Text(f"{failures:,} failed", style="bold red" if failures else "dim"),
        )
        return table


@contextmanager
def stop_on_signals(stop: StopFlag) -> Iterator[None]:
    """SIGINT/SIGTERM ask for a clean stop (finish, flush, return); a second one aborts the flush."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install handlers; the caller owns shutdown then
        return

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, request_stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def run_simulators(
    streams: Sequence[Stream],
    *,
    settings: Settings,
    rate: float | None,
    count: int | None,
    seed: int,
    progress: bool = True,
    producer_overrides: dict[str, Any] | None = None,
) -> dict[Stream, int]:
    """Produce the selected streams to their topics; return the events the broker acknowledged per stream.

    `rate` is events/s per stream (None: as fast as possible); `count` ends the run after that many
    events per stream (None: run until SIGINT/SIGTERM). With clickstream and inventory both selected,
    each purchase's `sale` goes to the inventory topic and counts toward its rate and count; once the
    inventory stream has reached `count`, later purchases get no sale. `producer_overrides` are
    librdkafka settings merged over `producer_config` (e.g. a shorter `message.timeout.ms`).

    Raises RuntimeError after flushing if any event failed delivery.
    """
    if rate is not None and not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"rate must be a positive number of events/s or None, got {rate}")
    if count is not None and count < 0:
        raise ValueError(f"count must be >= 0 or None, got {count}")
    selected = list(dict.fromkeys(Stream(s) for s in streams))
    if not selected:
        raise ValueError("no streams selected")

    simulation = Simulation(selected, seed=seed, clock=utc_now)
    deliveries = Deliveries(selected)
    sent = dict.fromkeys(selected, 0)
    producer = Producer({**producer_config(settings), **(producer_overrides or {})})
    stop = StopFlag()
    with stop_on_signals(stop), Status(selected, sent, deliveries, progress) as status:
        completed = False
        try:
            _produce(simulation, producer, deliveries, sent, rate, count, stop, status)
            completed = True
        finally:
            status.phase = "flushing"
            _flush(
                producer, deliveries, status, deadline=None if completed else time.monotonic() + ABORT_FLUSH_S
            )
        status.phase = "stopped" if stop.requested else "done"

    if deliveries.failures:
        raise RuntimeError(
            f"{deliveries.failures:,} simulated event(s) failed delivery "
            f"(per stream: { {s.value: n for s, n in deliveries.failed.items() if n} }); "
            f"first error: {deliveries.first_error}"
        )
    return dict(deliveries.delivered)


def _produce(
    simulation: Simulation,
    producer: Producer,
    deliveries: Deliveries,
    sent: dict[Stream, int],
    rate: float | None,
    count: int | None,
    stop: StopFlag,
    status: Status,
) -> None:
    # Bound once: this loop runs per event at hundreds of thousands of events/s.
    produce = producer.produce
    poll = producer.poll
    encode = ENCODER.encode
    step = simulation.step
    topics = {s: TOPICS[s].name for s in sent}
    callbacks: dict[Stream, Any] = {s: deliveries.callback(s) for s in sent}
    limit = math.inf if count is None else count
    start = time.monotonic()
    active = list(sent)
    while not stop.requested:
        active = [s for s in active if sent[s] < limit]
        if not active:
            return
        # Paced: catch up to where the schedule says each stream should be, at most a batch at a time.
        target = None if rate is None else int((time.monotonic() - start) * rate) + 1
        for stream in active:
            quota = BATCH if target is None else min(BATCH, target - sent[stream])
            for _ in range(quota):
                if sent[stream] >= limit:
                    break
                for out_stream, key, event in step(stream):
                    if sent[out_stream] >= limit:
                        continue  # a sale after the inventory stream reached its count
                    value = encode(event)
                    while True:
                        try:
                            produce(
                                topics[out_stream], value=value, key=key, on_delivery=callbacks[out_stream]
                            )
                            break
                        except BufferError:
                            poll(BUFFER_FULL_POLL_S)  # queue full: let deliveries drain it, then retry
                    sent[out_stream] += 1
        poll(0)
        deliveries.publish_metrics()
        now = time.monotonic()
        status.update(now)
        if rate is not None:
            pending = [sent[s] for s in active if sent[s] < limit]
            if pending:
                # Event n of a stream is due at start + n / rate; sleep toward the earliest due one.
                delay = start + min(pending) / rate - now
                if delay > 0:
                    time.sleep(min(delay, MAX_SLEEP_S))


def _flush(producer: Producer, deliveries: Deliveries, status: Status, *, deadline: float | None) -> None:
    while True:
        remaining = producer.flush(FLUSH_STEP_S)
        deliveries.publish_metrics()
        now = time.monotonic()
        status.update(now)
        if remaining == 0 or (deadline is not None and now >= deadline):
            return
