"""The stream processor's topology on Quix Streams.

    raw.clickstream ─ decode, validate (bad → dead_letters) ─┬─ key by session ─► stream.clicks_by_session
                                                             └─ 1-min windows per product ─► funnel_minutes
    stream.clicks_by_session ─ session windows (gap STREAM_SESSION_GAP_S) ─┬─► stream.sessions
                                                 ≥ N add-to-carts, no purchase └─► stream.cart_abandonments
    raw.competitor_prices ─ decode, validate ─ state per product × competitor ─► stream.undercuts
                                               (undercuts.py: opened / deepened / cleared, velocity)

(`funnel_minutes` is the topic `stream.funnel_minutes`.)

Exactly once: Quix consumes, updates its RocksDB state (and changelog topics) and produces its output in one
Kafka transaction per commit interval. The outputs reach PostgreSQL through ingest workers, which store
their offsets with the rows, never through a sink that could write twice.

Windows close on event time: a session when its partition's newest event passes its last event by twice
the gap plus the grace (`closing_strategy="partition"`, so a shopper who left is closed by other shoppers'
events); a partition with no events at all is told the time by clock records (clock.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
from quixstreams import Application, message_context
from quixstreams.checkpointing.checkpoint import BaseCheckpoint
from quixstreams.models import TopicConfig
from quixstreams.models.serializers import Deserializer, Serializer
from quixstreams.models.topics import Topic as QuixTopic
from quixstreams.state.base.state import State
from quixstreams.state.rocksdb import RocksDBOptions

from ingest_workers.batch import DeadLetter
from ingest_workers.dead_letters import write_dead_letters
from pricing_platform.core import catalog
from pricing_platform.core.database import known_product_ids
from pricing_platform.core.events import (
    DECODERS,
    ENCODER,
    ClickstreamEvent,
    CompetitorPriceEvent,
    contract_violation,
    decode_or_reason,
    future_violation,
)
from pricing_platform.core.settings import Settings
from pricing_platform.streaming import metrics
from pricing_platform.streaming.clock import InputProgress, run_clock
from pricing_platform.streaming.undercuts import Thresholds, observe
from pricing_platform.streaming.windows import (
    CLOCK,
    CLOCK_VALUE,
    FunnelAggregator,
    SessionAggregator,
    abandonment_record,
    epoch_ms,
    funnel_record,
    session_record,
)

log = logging.getLogger(__name__)

PRODUCT_REFRESH_S = 30.0


class Rejected(msgspec.Struct, frozen=True):
    """A message the contract refuses: it goes to the dead letters, never into a window."""

    error_kind: str
    reason: str
    payload: bytes | None


class ContractDeserializer(Deserializer):
    """Bytes → a raw event of the contract (exact decimals) or `Rejected`; on the re-keyed clickstream
    (`clock=True`) also the clock's marker. On a raw topic a clock record is just malformed input."""

    def __init__(
        self, event_type: type[ClickstreamEvent | CompetitorPriceEvent], *, clock: bool = False
    ) -> None:
        super().__init__()
        self.decode = DECODERS[event_type].decode
        self.clock = clock

    def __call__(self, value: bytes | None, ctx: Any = None) -> Any:
        if self.clock and value == CLOCK_VALUE:
            return CLOCK
        event = decode_or_reason(value, self.decode)
        return Rejected("malformed", event, value) if isinstance(event, str) else event


class ContractSerializer(Serializer):
    """msgspec structs → the contract's JSON (money as numbers)."""

    def __call__(self, value: Any, ctx: Any = None) -> bytes:
        return ENCODER.encode(value)


def event_time(value: Any, _headers: Any, timestamp: int, _kind: Any) -> int:
    """Windows run on the events' own time; a rejected message keeps its broker timestamp."""
    return epoch_ms(value.timestamp) if isinstance(value, ClickstreamEvent) else timestamp


class Quarantine:
    """Validates decoded clicks against the contract and the catalog; writes refused ones to the dead
    letters (keyed by group, topic, partition and offset, so a replay after a crash writes nothing twice)."""

    def __init__(self, settings: Settings, group: str, progress: InputProgress) -> None:
        self.settings = settings
        self.group = group
        self.progress = progress
        self._conn: psycopg.Connection | None = None
        self._products: frozenset[str] = frozenset()
        self._products_loaded_at = 0.0

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.settings.database_conninfo, autocommit=True, connect_timeout=10)
        return self._conn

    def _known(self, product_id: str | None) -> frozenset[str]:
        """The catalog's products, re-read when an unknown one appears (a product added since), at most
        every PRODUCT_REFRESH_S."""
        stale = time.monotonic() - self._products_loaded_at > PRODUCT_REFRESH_S
        if not self._products or (product_id is not None and product_id not in self._products and stale):
            self._products = frozenset(known_product_ids(self._connection()))
            self._products_loaded_at = time.monotonic()
        return self._products

    def accept(self, value: Any, key: Any, timestamp: int, _headers: Any) -> bool:
        if isinstance(value, ClickstreamEvent | CompetitorPriceEvent):
            reason = contract_violation(
                value,
                known_products=self._known(value.product_id),
                warehouses=(),
                competitors=catalog.COMPETITORS,
            )
            # As ingest: an event stamped in the future would also carry every window's time with it.
            if reason is None:
                now = datetime.now(UTC)
                cutoff = now + timedelta(seconds=self.settings.ingest_max_future_skew_s)
                reason = future_violation(value.timestamp, cutoff, now)
            if reason is None:
                if isinstance(value, ClickstreamEvent):
                    self.progress.saw(timestamp / 1000)
                metrics.EVENTS.labels(outcome="accepted").inc()
                return True
            value = Rejected("contract", reason, ENCODER.encode(value))
        context = message_context()
        letter = DeadLetter(
            partition=context.partition,
            offset=context.offset,
            key=key if isinstance(key, bytes) else None,
            payload=value.payload,
            error_kind=value.error_kind,
            reason=value.reason,
            message_timestamp=datetime.fromtimestamp(timestamp / 1000, tz=UTC) if timestamp else None,
        )
        with self._connection().cursor() as cur:
            write_dead_letters(cur, self.group, context.topic, [letter])
        metrics.EVENTS.labels(outcome="dead_letter").inc()
        log.warning(
            "dead-lettered %s[%s]@%s: %s", context.topic, context.partition, context.offset, value.reason
        )
        return False


def _tolerate_redelivery() -> None:
    """Quix stops the application when a partition hands it an offset at or below one it has already
    processed in the same checkpoint. Measured on the local durable broker (Tansu, S3 engine): with two
    producers writing to one competitor-prices partition, the processor received offset 523 after 525 and,
    restarted by the process manager, stopped again on the same data, 34 times in 6 minutes, while undercuts
    piled up unpublished. The windows and the undercut state count each event once (windows.py,
    undercuts.py), so such a message is processed again harmlessly; its offset is just not stored twice."""
    original = BaseCheckpoint.store_offset
    if getattr(original, "tolerant", False):
        return

    def store_offset(self: BaseCheckpoint, topic: str, partition: int, offset: int) -> None:
        stored = self._tp_offsets.get((topic, partition), -1)
        if offset <= stored:
            metrics.REDELIVERED.inc()
            log.warning("%s[%s]: offset %s handed over again after %s; not stored twice",
                        topic, partition, offset, stored)  # fmt: skip
            return
        original(self, topic, partition, offset)

    store_offset.tolerant = True  # type: ignore[attr-defined]
    BaseCheckpoint.store_offset = store_offset  # type: ignore[method-assign]


def _topic_config(topic: catalog.Topic) -> TopicConfig:
    # The local broker's DescribeConfigs omits retention.ms, which Quix's stateful operators read.
    return TopicConfig(
        num_partitions=topic.partitions,
        replication_factor=1,
        extra_config={"retention.ms": str(topic.retention_ms)},
    )


# Window state is a few hundred bytes per open session or product minute; Quix's defaults (64 MiB write
# buffers ×3 per partition store, a 1 GiB block cache) are sized for large state and measured here at
# ~390 MiB of resident memory for this processor.
_SMALL_STATE = RocksDBOptions(
    write_buffer_size=4 * 1024 * 1024,
    max_write_buffer_number=2,
    target_file_size_base=8 * 1024 * 1024,
    block_cache_size=32 * 1024 * 1024,
)


def processor_group(settings: Settings) -> str:
    return f"{settings.kafka_group_prefix}-stream-processor"


def build_application(settings: Settings, processor_id: str) -> Application:
    """`processor_id` must be stable across restarts of one processor and unique among its peers: it is
    the transactional id, so a restarted processor fences its killed predecessor and the broker aborts the
    transaction left open (otherwise read-committed consumers wait for it to time out)."""
    extra = {
        key: value for key, value in settings.kafka_common_config().items() if key != "bootstrap.servers"
    }
    timeouts = {
        "session.timeout.ms": settings.kafka_session_timeout_ms,
        "heartbeat.interval.ms": settings.kafka_heartbeat_interval_ms,
        "fetch.wait.max.ms": settings.kafka_fetch_wait_max_ms,
        # Partitions are read a bounded slice at a time, so their event times stay close while a backlog
        # is caught up (the skew the grace must cover).
        "max.partition.fetch.bytes": settings.stream_max_partition_fetch_kib * 1024,
        # Prefetch a few fetches, not librdkafka's 64 MiB: memory stays bounded while catching up.
        "queued.max.messages.kbytes": 16 * 1024,
    }
    settings.stream_state_path().mkdir(parents=True, exist_ok=True)
    producer: dict[str, object] = {
        **extra,
        "linger.ms": settings.kafka_producer_linger_ms,
        "max.in.flight.requests.per.connection": settings.kafka_producer_max_in_flight,
    }
    if settings.stream_processing_guarantee == "exactly-once":
        producer["transactional.id"] = processor_id
    else:
        # At-least-once leans on the idempotent windows and keyed landing, not on producer sequences
        # (which the local durable broker loses).
        producer["enable.idempotence"] = False
    return Application(
        broker_address=settings.kafka_bootstrap_servers,
        consumer_group=processor_group(settings),
        auto_offset_reset="earliest",
        commit_interval=settings.stream_commit_interval_s,
        processing_guarantee=settings.stream_processing_guarantee,
        state_dir=settings.stream_state_path(),
        consumer_extra_config={**extra, **timeouts},
        producer_extra_config=producer,
        use_changelog_topics=settings.stream_changelog,
        auto_create_topics=True,
        rocksdb_options=_SMALL_STATE,
    )


def output_topic(app: Application, output: catalog.StreamOutput) -> QuixTopic:
    topic = catalog.STREAM_OUTPUT_TOPICS[output]
    return app.topic(
        topic.name, value_serializer=ContractSerializer(), key_serializer="str", config=_topic_config(topic)
    )


def build_topology(app: Application, settings: Settings, progress: InputProgress) -> None:
    """Wires the dataframes of the module docstring into `app`."""
    raw = catalog.TOPICS[catalog.Stream.CLICKSTREAM]
    by_session = catalog.CLICKS_BY_SESSION_TOPIC
    raw_topic = app.topic(
        raw.name,
        value_deserializer=ContractDeserializer(ClickstreamEvent),
        key_deserializer="bytes",
        config=_topic_config(raw),
        timestamp_extractor=event_time,
    )
    by_session_topic = app.topic(
        by_session.name,
        value_deserializer=ContractDeserializer(ClickstreamEvent, clock=True),
        value_serializer=ContractSerializer(),
        key_serializer="str",
        key_deserializer="str",
        config=_topic_config(by_session),
        timestamp_extractor=event_time,
    )
    quarantine = Quarantine(settings, processor_group(settings), progress)
    grace_ms = settings.stream_grace_s * 1000

    clicks = app.dataframe(raw_topic).filter(quarantine.accept, metadata=True)
    clicks.to_topic(by_session_topic, key=lambda event: str(event.session_id))

    funnel = (
        clicks.filter(lambda event: event.product_id is not None)
        .apply(lambda event: (event, message_context().offset))
        .tumbling_window(duration_ms=60_000, grace_ms=grace_ms, name="funnel")
        .agg(funnel=FunnelAggregator())
        .final(closing_strategy="partition")
        .apply(lambda window: funnel_record(window["start"], window["funnel"]))
        .filter(lambda record: record is not None)
        .apply(_counted(lambda record: record, "funnel_minutes"))
    )
    funnel.to_topic(output_topic(app, catalog.StreamOutput.FUNNEL_MINUTES), key=lambda r: r.product_id)

    windows = (
        app.dataframe(by_session_topic)
        .session_window(
            inactivity_gap_ms=settings.stream_session_gap_s * 1000, grace_ms=grace_ms, name="sessions"
        )
        .agg(session=SessionAggregator())
        .final(closing_strategy="partition")
        .apply(_closed_session, metadata=True)
        .filter(lambda pair: pair[0] is not None)
    )
    sessions = windows.apply(_counted(lambda pair: pair[0], "sessions"))
    sessions.to_topic(output_topic(app, catalog.StreamOutput.SESSIONS), key=lambda s: str(s.session_id))

    min_carts = settings.stream_abandon_min_carts
    abandonments = (
        windows.apply(lambda pair: abandonment_record(pair[0], pair[1], min_carts))
        .filter(lambda record: record is not None)
        .apply(_counted(lambda record: record, "cart_abandonments"))
    )
    abandonments.to_topic(
        output_topic(app, catalog.StreamOutput.CART_ABANDONMENTS), key=lambda a: str(a.session_id)
    )

    competitor = catalog.TOPICS[catalog.Stream.COMPETITOR]
    competitor_topic = app.topic(
        competitor.name,
        value_deserializer=ContractDeserializer(CompetitorPriceEvent),
        key_deserializer="bytes",
        config=_topic_config(competitor),
    )
    thresholds = Thresholds(settings.undercut_pct, settings.undercut_clear_pct)

    def undercut(event: CompetitorPriceEvent, state: State) -> Any:
        pair, found = observe(state.get(event.competitor_name), event, thresholds)
        if pair is not None:
            state.set(event.competitor_name, pair)
        return found

    undercuts = (
        app.dataframe(competitor_topic)
        .filter(quarantine.accept, metadata=True)
        .apply(undercut, stateful=True)
        .filter(lambda record: record is not None)
        .apply(_counted(lambda record: record, "undercuts"))
    )
    undercuts.to_topic(output_topic(app, catalog.StreamOutput.UNDERCUTS), key=lambda u: u.product_id)


def _closed_session(window: dict[str, Any], key: Any, *_: Any) -> tuple[Any, dict[str, Any]]:
    return session_record(key, window["session"]), window["session"]


def _counted(func: Callable[[Any], Any], output: str) -> Callable[[Any], Any]:
    def counted(value: Any) -> Any:
        metrics.WINDOWS_CLOSED.labels(output=output).inc()
        return func(value)

    return counted


def run_processor(settings: Settings, processor_id: str) -> None:
    """Run until SIGTERM/SIGINT (Quix stops at the end of the message in hand and commits)."""
    _tolerate_redelivery()
    app = build_application(settings, processor_id)
    progress = InputProgress()
    build_topology(app, settings, progress)
    stop = threading.Event()
    clock = threading.Thread(
        target=run_clock,
        args=(settings, progress, stop, processor_group(settings), processor_id),
        name="stream-clock",
        daemon=True,
    )
    clock.start()
    try:
        app.run()
    finally:
        stop.set()
