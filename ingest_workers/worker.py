"""The ingest loop: consume a batch, decode and validate it, then in ONE PostgreSQL transaction fence and
advance the stored offsets, land the rows, apply derived state and record dead letters.

Why offsets live in PostgreSQL: committing them with the rows makes every batch all-or-nothing, so a crash
at any instant means the batch is replayed from the stored position and nothing is lost or counted twice.
Kafka's own committed offsets are updated afterwards on a best-effort basis only, so that standard lag
tools keep working; the worker never reads them.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TypeVar

import psycopg
import pyarrow as pa
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from ingest_workers import metrics
from ingest_workers.batch import Batch, DeadLetter, build_batch, build_click_batch, dead_letter
from ingest_workers.click_rows import ClickRows
from ingest_workers.dead_letters import write_dead_letters
from ingest_workers.offsets import Fenced, advance, load_positions
from ingest_workers.sinks import SINKS, Sink, SinkResult
from ingest_workers.throughput import count_batch
from pricing_platform.core import catalog
from pricing_platform.core.database import known_product_ids
from pricing_platform.core.events import DECODERS, RAW_EVENTS, Event, contract_violation, future_violation
from pricing_platform.core.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
_REFUSED_DATA = (psycopg.errors.DataError, psycopg.errors.IntegrityError)

_LATENCY_SAMPLES_PER_BATCH = 64
_PRODUCT_REFRESH_S = 30.0
_LAG_INTERVAL_S = 1.0
_PREFETCH_KIB = 8 * 1024


@dataclass
class _Stats:
    """Throughput since the last log line."""

    events: int = 0
    dead_letters: int = 0
    batches: int = 0
    since: float = field(default_factory=time.monotonic)


@dataclass
class _InFlight:
    """A batch whose transaction runs on the writer thread while the next batch is fetched and decoded."""

    batch: Batch
    moves: dict[int, tuple[int | None, int]]
    future: Future[SinkResult | None]
    started: float


class IngestWorker:
    def __init__(
        self,
        stream: catalog.Stream | catalog.StreamOutput,
        settings: Settings,
        *,
        worker_id: str | None = None,
        sink: Sink | None = None,
    ) -> None:
        """`sink`: what lands the stream (default: its entry in sinks.SINKS); the repricer passes its own."""
        self.stream = stream
        self.settings = settings
        self.topic = catalog.LANDED_TOPICS[stream].name
        self.group = catalog.consumer_group(stream, settings.kafka_group_prefix)
        self.worker_id = worker_id or f"{stream.value}-{socket.gethostname()}-{os.getpid()}"
        self.sink: Sink = sink or SINKS[stream.value]()
        self._decode: Callable[[bytes], Event] = DECODERS[self.sink.event_type].decode
        self._stop = threading.Event()
        # One connection for the batch transactions (writer thread), one for reads on the consumer thread.
        self._connections: dict[str, psycopg.Connection | None] = {"writer": None, "reader": None}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{stream.value}-writer")
        self._in_flight: _InFlight | None = None
        # partition → next offset this worker expects to find stored (None: never stored). Only partitions
        # in here are owned; the offsets compare-and-set uses these values to fence stale owners.
        self.positions: dict[int, int | None] = {}
        self._known_products: frozenset[str] = frozenset()
        self._products_loaded_at = 0.0
        self._warehouses = frozenset(catalog.WAREHOUSES)
        self._competitors = frozenset(catalog.COMPETITORS)
        self._future_cutoff = datetime.now(UTC)
        self._stats = _Stats()
        self._labels = {"stream": stream.value}
        self._lag_measured_at = 0.0

    # ---- lifecycle ---------------------------------------------------------------------------------

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info(
                "%s: %s received, finishing the batch in hand", self.worker_id, signal.Signals(signum).name
            )
            self.request_stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self) -> None:
        consumer = Consumer(self._consumer_config())
        if self.settings.kafka_consumer_assignment == "static":
            # Every partition, without the broker's group coordination: positions live in PostgreSQL, and
            # the offsets compare-and-set fences a second worker that claimed the same partitions.
            partitions = catalog.LANDED_TOPICS[self.stream].partitions
            self._on_assign(consumer, [TopicPartition(self.topic, p) for p in range(partitions)])
            log.info("%s: consuming every partition of %s (static assignment)", self.worker_id, self.topic)
        else:
            consumer.subscribe(
                [self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
            )
            log.info("%s: consuming %s as group %s", self.worker_id, self.topic, self.group)
        try:
            while not self._stop.is_set():
                messages = consumer.consume(
                    num_messages=self.settings.ingest_batch_size,
                    timeout=self.settings.ingest_batch_wait_ms / 1000,
                )
                self._raise_fatal(messages)
                # Decoding this batch overlaps the previous batch's transaction on the writer thread.
                batch = self._build(messages) if messages else None
                # A fenced batch moves the consumer back to the stored positions: the batch built from
                # messages fetched before that seek would write from the wrong place (and move a stored
                # position backwards), so it is dropped; its messages are fetched again.
                fenced = self._settle(consumer)
                if batch is not None and batch.ranges and not fenced:
                    self._submit(batch)
                self._maybe_log_stats()
                self._measure_lag(consumer)
            self._settle(consumer)
        finally:
            log.info("%s: closing consumer", self.worker_id)
            consumer.close()
            self._writer.shutdown(wait=True)
            for name in self._connections:
                self._drop_connection(name)

    def _consumer_config(self) -> dict[str, str | int | bool]:
        s = self.settings
        return {
            **s.kafka_common_config(),
            "group.id": self.group,
            "client.id": self.worker_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "session.timeout.ms": s.kafka_session_timeout_ms,
            "heartbeat.interval.ms": s.kafka_heartbeat_interval_ms,
            "max.poll.interval.ms": s.kafka_max_poll_interval_ms,
            # librdkafka's 1 s default stalls a batch consumer between fetches.
            "fetch.queue.backoff.ms": 10,
            # Prefetch a few batches, not librdkafka's default 64 MiB: memory per worker stays bounded.
            "queued.max.messages.kbytes": _PREFETCH_KIB,
            "fetch.max.bytes": _PREFETCH_KIB * 1024 // 2,
            "fetch.wait.max.ms": s.kafka_fetch_wait_max_ms,
            "partition.assignment.strategy": "range",
        }

    @staticmethod
    def _raise_fatal(messages: list[Message]) -> None:
        for message in messages:
            error = message.error()
            if error is not None and error.fatal():
                raise KafkaException(error)

    # ---- partition ownership -----------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._settle(consumer)
        wanted = [p.partition for p in partitions]
        stored = (
            self._with_db("reader", lambda conn: load_positions(conn, self.group, self.topic, wanted)) or {}
        )
        for tp in partitions:
            position = stored.get(tp.partition)
            self.positions[tp.partition] = position
            tp.offset = OFFSET_BEGINNING if position is None else position
        # Only assign() with offsets set makes the consumer start there; seek() is refused in this callback.
        consumer.assign(partitions)
        metrics.ASSIGNED.labels(**self._labels).set(len(self.positions))
        log.info(
            "%s: assigned %s",
            self.worker_id,
            ", ".join(f"[{tp.partition}]@{stored.get(tp.partition, 'earliest')}" for tp in partitions)
            or "nothing",
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._settle(consumer)
        for tp in partitions:
            self.positions.pop(tp.partition, None)
            with contextlib.suppress(KeyError):  # never measured
                metrics.CONSUMER_LAG.remove(self.stream.value, str(tp.partition))
        consumer.unassign()
        metrics.ASSIGNED.labels(**self._labels).set(len(self.positions))
        log.info("%s: revoked %s", self.worker_id, [tp.partition for tp in partitions])

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("%s: lost %s (session timed out)", self.worker_id, [tp.partition for tp in partitions])
        self._on_revoke(consumer, partitions)

    # ---- batches -----------------------------------------------------------------------------------

    def _build(self, messages: list[Message]) -> Batch:
        if not self._known_products:
            self._refresh_products(force=True)
        self._future_cutoff = datetime.now(UTC) + timedelta(seconds=self.settings.ingest_max_future_skew_s)
        valid = [m for m in messages if m.error() is None]
        batch = self._decode_batch(valid)
        unknown_product = any(
            d.error_kind == "contract" and "unknown product_id" in d.reason for d in batch.dead_letters
        )
        # A product may have been added since we loaded the catalog: re-check before quarantining.
        if unknown_product and self._refresh_products(force=False):
            batch = self._decode_batch(valid)
        return batch

    def _decode_batch(self, messages: list[Message]) -> Batch:
        owned = self.positions.__contains__
        if self.stream is catalog.Stream.CLICKSTREAM:
            return build_click_batch(
                messages, self._decode, self._violation, owned, self._known_products, self._future_cutoff
            )
        return build_batch(messages, self._decode, self._violation, owned)

    def moves_for(self, batch: Batch) -> dict[int, tuple[int | None, int]]:
        """partition → (position expected in the database, position after this batch)."""
        return {p: (self.positions.get(p), last + 1) for p, (_, last) in batch.ranges.items()}

    def commit_batch(
        self, conn: psycopg.Connection, batch: Batch, moves: dict[int, tuple[int | None, int]]
    ) -> SinkResult:
        with conn.transaction(), conn.cursor() as cur:
            # Fence first: it takes the offsets rows' locks, so a stale owner waits, then fails, before
            # spending time on the rows.
            advance(cur, self.group, self.topic, moves)
            result, refused = self._write_isolating(cur, batch.events, batch.sources)
            write_dead_letters(cur, self.group, self.topic, batch.dead_letters + refused)
            # Last, so the shared per-minute row is locked only until the commit that follows.
            count_batch(
                cur,
                self.stream.value,
                result.inserted,
                len(batch.dead_letters) + len(refused),
            )
        batch.dead_letters.extend(refused)
        return result

    def _write_isolating(
        self, cur: psycopg.Cursor, events: list[Event], sources: list[Message]
    ) -> tuple[SinkResult, list[DeadLetter]]:
        """Write `events` in a savepoint; if the database refuses the data itself (a constraint or a value
        out of range: retrying cannot help), bisect down to the offending events and dead-letter them, so
        one bad event can never block its partition. Order is kept: halves are written first to last."""
        try:
            with cur.connection.transaction():
                return self.sink.write(cur, events), []
        except _REFUSED_DATA as exc:
            if isinstance(exc, psycopg.errors.UniqueViolation):
                raise  # a concurrent insert of the same id: transient, the whole batch is retried
            if len(events) == 1:
                reason = f"refused by the database: {exc.diag.message_primary or exc}"
                return SinkResult(0, 0), [dead_letter(sources[0], "database", reason)]
        middle = len(events) // 2
        first, refused_first = self._write_isolating(cur, events[:middle], sources[:middle])
        second, refused_second = self._write_isolating(cur, events[middle:], sources[middle:])
        merged = SinkResult(
            first.inserted + second.inserted,
            first.duplicates + second.duplicates,
            first.rejected + second.rejected,
        )
        return merged, refused_first + refused_second

    def _submit(self, batch: Batch) -> None:
        moves = self.moves_for(batch)
        future = self._writer.submit(
            self._with_db, "writer", lambda conn: self.commit_batch(conn, batch, moves)
        )
        self._in_flight = _InFlight(batch, moves, future, time.monotonic())

    def _settle(self, consumer: Consumer) -> bool:
        """Wait for the batch in flight and adopt its outcome (positions, metrics, Kafka commit); True
        when it was fenced (the consumer has been moved back to the stored positions)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return False
        try:
            result = in_flight.future.result()
        except Fenced as fenced:
            metrics.FENCED.labels(**self._labels).inc()
            log.warning("%s: batch rolled back: %s; re-reading positions", self.worker_id, fenced)
            self._resync(consumer)
            return True
        if result is None:  # stop requested while the database was unreachable: batch not committed
            return False
        committed_at = time.time()
        for partition, (_, new) in in_flight.moves.items():
            if partition in self.positions:
                self.positions[partition] = new
        self._record(in_flight.batch, result, in_flight.started, committed_at)
        self._commit_to_kafka(consumer, in_flight.batch)
        return False

    def _resync(self, consumer: Consumer) -> None:
        """After a fenced batch: adopt the stored positions of partitions we still own and seek there."""
        owned = list(self.positions)
        stored = (
            self._with_db("reader", lambda conn: load_positions(conn, self.group, self.topic, owned)) or {}
        )
        for partition in owned:
            position = stored.get(partition)
            self.positions[partition] = position
            try:
                consumer.seek(
                    TopicPartition(self.topic, partition, OFFSET_BEGINNING if position is None else position)
                )
            except KafkaException as exc:  # no longer assigned: the next rebalance callback settles it
                log.info("%s: seek [%s] skipped: %s", self.worker_id, partition, exc)

    def _commit_to_kafka(self, consumer: Consumer, batch: Batch) -> None:
        offsets = [TopicPartition(self.topic, p, last + 1) for p, (_, last) in batch.ranges.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:  # informational only: PostgreSQL holds the truth
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.debug("kafka commit skipped: %s", exc)

    def _record(self, batch: Batch, result, started: float, committed_at: float) -> None:
        labels = self._labels
        metrics.EVENTS.labels(outcome="inserted", **labels).inc(result.inserted - result.rejected)
        metrics.EVENTS.labels(outcome="rejected", **labels).inc(result.rejected)
        metrics.EVENTS.labels(outcome="duplicate", **labels).inc(result.duplicates)
        metrics.EVENTS.labels(outcome="dead_lettered", **labels).inc(len(batch.dead_letters))
        metrics.BATCHES.labels(**labels).inc()
        metrics.BATCH_SECONDS.labels(**labels).observe(time.monotonic() - started)
        metrics.BATCH_EVENTS.labels(**labels).observe(batch.size)
        metrics.LAST_COMMIT.labels(**labels).set(committed_at)
        events = batch.events
        # Event time → row measures ingest on the raw streams; a processor's output is published when its
        # window closes, by design long after its events.
        if events and isinstance(self.stream, catalog.Stream):
            latency = metrics.EVENT_TO_ROW_SECONDS.labels(**labels)
            step = max(1, len(events) // _LATENCY_SAMPLES_PER_BATCH)
            if isinstance(events, ClickRows):
                sampled = events.epoch_seconds(step)
            else:
                sampled = [event.timestamp.timestamp() for event in events[::step]]
            for event_time in sampled:
                latency.observe(max(0.0, committed_at - event_time))
        self._stats.events += batch.size
        self._stats.dead_letters += len(batch.dead_letters)
        self._stats.batches += 1
        for letter in batch.dead_letters[:5]:
            log.warning(
                "%s: dead-lettered %s[%s]@%s (%s): %s",
                self.worker_id, self.topic, letter.partition, letter.offset, letter.error_kind, letter.reason,
            )  # fmt: skip

    def _measure_lag(self, consumer: Consumer) -> None:
        """Lag per owned partition, once a second, from the watermarks cached by the fetches (no request
        to the broker): high watermark − the position stored in PostgreSQL."""
        now = time.monotonic()
        if now - self._lag_measured_at < _LAG_INTERVAL_S:
            return
        self._lag_measured_at = now
        for partition, position in list(self.positions.items()):
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, partition), cached=True)
            except (KafkaException, TypeError):  # not fetched yet: nothing cached
                continue
            if high < 0:
                continue
            lag = max(0, high - (low if position is None else position))
            metrics.CONSUMER_LAG.labels(stream=self.stream.value, partition=str(partition)).set(lag)

    def _maybe_log_stats(self) -> None:
        stats = self._stats
        elapsed = time.monotonic() - stats.since
        if elapsed < self.settings.ingest_stats_interval_s:
            return
        log.info(
            "%s: %s events in %.0fs (%.1f/s) · %s batches · %s dead-lettered · partitions %s",
            self.worker_id, f"{stats.events:,}", elapsed, stats.events / elapsed, stats.batches,
            stats.dead_letters, sorted(self.positions),
        )  # fmt: skip
        self._stats = _Stats()

    # ---- validation ------------------------------------------------------------------------------

    def _violation(self, event: Event) -> str | None:
        reason = contract_violation(
            event,
            known_products=self._known_products,
            warehouses=self._warehouses,
            competitors=self._competitors,
        )
        if reason is None and isinstance(event, RAW_EVENTS):
            return future_violation(event.timestamp, self._future_cutoff, datetime.now(UTC))
        return reason

    def _refresh_products(self, *, force: bool) -> bool:
        """Reload product ids from the database (rate limited unless forced); True when they changed."""
        now = time.monotonic()
        if not force and now - self._products_loaded_at < _PRODUCT_REFRESH_S:
            return False
        products = self._with_db("reader", known_product_ids)
        if products is None:
            return False
        self._products_loaded_at = now
        changed = products != self._known_products
        self._known_products = products
        return changed

    # ---- database ----------------------------------------------------------------------------------

    def _with_db(self, which: str, work: Callable[[psycopg.Connection], T]) -> T | None:
        """Run `work` on the named connection, reconnecting with capped exponential back-off while
        PostgreSQL is unreachable. Returns None only when a stop was requested before it could succeed."""
        delay = 0.2
        while True:
            try:
                return work(self._connection(which))
            except Fenced:
                raise
            except (psycopg.OperationalError, psycopg.errors.SerializationFailure,
                    psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected) as exc:  # fmt: skip
                metrics.DB_ERRORS.labels(**self._labels).inc()
                log.warning(
                    "%s: database error, retrying in %.1fs: %s", self.worker_id, delay, str(exc).strip()
                )
                self._drop_connection(which)
                if self._stop.wait(delay):
                    return None
                delay = min(delay * 2, self.settings.ingest_db_retry_max_s)

    def _connection(self, which: str) -> psycopg.Connection:
        conn = self._connections[which]
        if conn is None or conn.closed:
            conn = psycopg.connect(
                self.settings.database_conninfo,
                application_name=f"pricing-ingest:{self.worker_id}:{which}",
                connect_timeout=5,
                # Every batch opens its own transaction block with conn.transaction(); reads between
                # batches must not leave one open.
                autocommit=True,
            )
            # Rows and offsets commit together, so a server crash can only lose whole batches, which are
            # then replayed from the older stored offsets: durability of each commit buys nothing here.
            conn.execute("SET synchronous_commit = off")
            self._connections[which] = conn
        return conn

    def _drop_connection(self, which: str) -> None:
        conn, self._connections[which] = self._connections[which], None
        if conn is not None:
            conn.close()


class _NoPandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is not used by the ingest worker", name=name)


def _without_pandas() -> None:
    """pyarrow imports pandas, when installed, the first time it builds an array (to recognise pandas
    input): ~60 MiB of a worker's memory and ~1 s of its start for a library the worker never uses. A
    failing import is what pyarrow takes as "no pandas"."""
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas())


def run_worker(
    stream: catalog.Stream | catalog.StreamOutput, settings: Settings, *, worker_id: str | None = None
) -> None:
    _without_pandas()
    # Arrow's default allocator (jemalloc) keeps freed batch memory for reuse; the C library's returns it,
    # so a worker's resident memory follows the batches in hand rather than the largest ever seen.
    pa.set_memory_pool(pa.system_memory_pool())
    worker = IngestWorker(stream, settings, worker_id=worker_id)
    worker.install_signal_handlers()
    worker.run()


def run_workers(
    streams: list[catalog.Stream | catalog.StreamOutput], settings: Settings, *, worker_id: str | None = None
) -> None:
    """Several low-volume streams (the stream processor's outputs) in one process, a worker thread each."""
    if len(streams) == 1:
        run_worker(streams[0], settings, worker_id=worker_id)
        return
    _without_pandas()
    workers = [
        IngestWorker(s, settings, worker_id=f"{worker_id}-{s.value}" if worker_id else None) for s in streams
    ]

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received, finishing the batches in hand", signal.Signals(signum).name)
        for worker in workers:
            worker.request_stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    failed: list[BaseException] = []

    def run(worker: IngestWorker) -> None:
        try:
            worker.run()
        except BaseException as exc:
            # One stream failing stops the process, so the process manager restarts all of them.
            log.exception("%s: worker failed; stopping the other streams", worker.worker_id)
            failed.append(exc)
            for other in workers:
                other.request_stop()

    threads = [threading.Thread(target=run, args=(w,), name=f"ingest-{w.stream.value}") for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise SystemExit(f"ingest worker failed: {failed[0]!r}")
