"""The simulators' run loop against the real broker: what `run_simulators` and `pricing-platform simulate`
report is exactly what lands in the raw topics, paced, keyed and within the contract, through a full
local queue, a dead broker and SIGTERM; and the simulated streams go through the real ingest workers into
PostgreSQL without a dead letter."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import msgspec
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from prometheus_client import REGISTRY

from pricing_platform.core.catalog import COMPETITORS, PRODUCTS, TOPICS, WAREHOUSES, Stream
from pricing_platform.core.events import (
    DECODERS,
    ClickstreamEvent,
    CompetitorPriceEvent,
    Event,
    InventoryEvent,
)
from pricing_platform.core.settings import Settings
from pricing_platform.simulators import contract_violation_of
from pricing_platform.simulators.run import BATCH, run_simulators
from tests.support.servers import free_port
from tests.support.workers import (
    PROJECT_ROOT,
    scalar,
    settings_env,
    stock_consistent,
    wait_for_count,
)

pytestmark = pytest.mark.integration

ALL_STREAMS = tuple(Stream)
STREAM_OF_TOPIC = {TOPICS[s].name: s for s in Stream}
EVENT_CLASS: dict[Stream, type[Event]] = {
    Stream.CLICKSTREAM: ClickstreamEvent,
    Stream.INVENTORY: InventoryEvent,
    Stream.COMPETITOR: CompetitorPriceEvent,
}
END_KEY = b"__end_of_test__"
OPENING_BALANCES = len(PRODUCTS) * len(WAREHOUSES)


@dataclass(frozen=True, slots=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class TopicReader:
    """A real consumer of every partition of the raw topics, from the beginning.

    This broker's watermark offsets are not reliable, so "everything" is found by consuming: `read_all`
    appends an end marker to every partition and reads until it has seen them all. Whatever was in a
    partition before its marker (all a finished run produced) has then been read, so counts are exact.
    Partitions are assigned, not subscribed: no group join to wait for.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.records: dict[Stream, list[Record]] = {s: [] for s in Stream}
        self._ends_seen: set[tuple[str, int]] = set()
        self._consumer = Consumer(
            {
                **settings.kafka_common_config(),
                "group.id": f"simulator-test-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self._consumer.assign(
            [
                TopicPartition(t.name, p, OFFSET_BEGINNING)
                for t in TOPICS.values()
                for p in range(t.partitions)
            ]
        )

    def total(self) -> int:
        return sum(map(len, self.records.values()))

    def poll(self, timeout_s: float) -> None:
        for message in self._consumer.consume(10_000, timeout_s):
            error = message.error()
            assert error is None, f"consumer error: {error}"
            topic, partition = cast(str, message.topic()), cast(int, message.partition())
            if message.key() == END_KEY:
                self._ends_seen.add((topic, partition))
                continue
            value = message.value()
            assert value is not None, f"tombstone at {topic}[{partition}]@{message.offset()}"
            self.records[STREAM_OF_TOPIC[topic]].append(
                Record(partition, cast(int, message.offset()), message.key(), value)
            )

    def wait_for_any(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while self.total() == 0 and time.monotonic() < deadline:
            self.poll(0.1)

    def read_all(self, timeout_s: float = 60) -> dict[Stream, list[Record]]:
        ends = {(t.name, p) for t in TOPICS.values() for p in range(t.partitions)}
        producer = Producer(self.settings.kafka_common_config())
        for topic, partition in sorted(ends):
            producer.produce(topic, value=b"", key=END_KEY, partition=partition)
        assert producer.flush(30) == 0, "end markers not delivered"
        deadline = time.monotonic() + timeout_s
        while not ends <= self._ends_seen:
            assert time.monotonic() < deadline, f"end markers missing from {sorted(ends - self._ends_seen)}"
            self.poll(0.2)
        return self.records

    def counts(self) -> dict[Stream, int]:
        return {s: len(r) for s, r in self.records.items()}

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture
def reader(topics: Settings) -> Iterator[TopicReader]:
    topic_reader = TopicReader(topics)
    yield topic_reader
    topic_reader.close()


def run(settings: Settings, streams: Any = ALL_STREAMS, **kwargs: Any) -> dict[Stream, int]:
    options: dict[str, Any] = {"rate": None, "count": 2000, "seed": 1, "progress": False}
    options.update(kwargs)
    return run_simulators(streams, settings=settings, **options)


def decoded(stream: Stream, records: list[Record]) -> list[tuple[Record, Any]]:
    decoder = cast(msgspec.json.Decoder[Any], DECODERS[EVENT_CLASS[stream]])
    return [(record, decoder.decode(record.value)) for record in records]


def produced_total(stream: Stream) -> float:
    value = REGISTRY.get_sample_value("pricing_simulator_events_produced_total", {"stream": stream.value})
    return value or 0.0


def test_run_produces_count_per_stream_keyed_and_within_the_contract(
    topics: Settings, reader: TopicReader
) -> None:
    before = {s: produced_total(s) for s in ALL_STREAMS}
    produced = run(topics, count=3000)
    assert produced == dict.fromkeys(ALL_STREAMS, 3000)
    assert {s: produced_total(s) - before[s] for s in ALL_STREAMS} == dict.fromkeys(ALL_STREAMS, 3000)

    records = reader.read_all()
    assert reader.counts() == produced
    events = {s: decoded(s, records[s]) for s in ALL_STREAMS}
    for stream, pairs in events.items():
        assert len({e.event_id for _, e in pairs}) == len(pairs), f"duplicate events on {stream}"
        partitions_of_key: dict[bytes | None, set[int]] = defaultdict(set)
        for record, event in pairs:
            assert contract_violation_of(event) is None, event
            if isinstance(event, ClickstreamEvent) and event.product_id is None:
                assert event.event_type == "page_view"
                assert record.key == str(event.session_id).encode()
            else:
                assert record.key == event.product_id.encode()
            partitions_of_key[record.key].add(record.partition)
        # One partition per key: a product's events stay in order for the ingest workers.
        assert all(len(p) == 1 for p in partitions_of_key.values())

    # Each purchase's sale lands on the inventory topic; per product (one partition each, so in order)
    # the sales are the first purchases of that product, until the inventory stream reached its count.
    purchases: dict[str, list[ClickstreamEvent]] = defaultdict(list)
    for _, click in events[Stream.CLICKSTREAM]:
        if click.event_type == "purchase":
            purchases[click.product_id].append(click)
    sales: dict[str, list[InventoryEvent]] = defaultdict(list)
    for _, movement in events[Stream.INVENTORY]:
        if movement.event_type == "sale":
            sales[movement.product_id].append(movement)
    assert sum(map(len, sales.values())) > 10
    for product_id, sold in sales.items():
        bought = purchases[product_id][: len(sold)]
        assert len(bought) == len(sold), f"{product_id}: {len(sold)} sales, {len(bought)} purchases"
        for click, sale in zip(bought, sold, strict=True):
            assert sale.quantity_change == -1 and sale.timestamp >= click.timestamp


def test_run_retries_when_the_local_queue_is_full(topics: Settings, reader: TopicReader) -> None:
    # A batch (512 events between polls) cannot fit a 100-message queue: produce must hit BufferError.
    assert BATCH > 100
    produced = run(
        topics, [Stream.COMPETITOR], count=5000, producer_overrides={"queue.buffering.max.messages": 100}
    )
    assert produced == {Stream.COMPETITOR: 5000}
    records = reader.read_all()
    assert reader.counts() == {Stream.CLICKSTREAM: 0, Stream.INVENTORY: 0, Stream.COMPETITOR: 5000}
    ids = [e.event_id for _, e in decoded(Stream.COMPETITOR, records[Stream.COMPETITOR])]
    assert len(set(ids)) == 5000


def test_run_raises_when_deliveries_fail() -> None:
    nothing_listening = Settings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(
        RuntimeError,
        match=r"100 simulated event\(s\) failed delivery \(per stream: \{'inventory': 100\}\); "
        r"first error: inventory: .*Message timed out",
    ):
        run(nothing_listening, [Stream.INVENTORY], count=100, producer_overrides={"message.timeout.ms": 1000})
    assert time.monotonic() - started < 15


def test_run_paces_to_the_rate_without_busy_waiting(topics: Settings, reader: TopicReader) -> None:
    wall, cpu = time.monotonic(), time.process_time()
    produced = run(topics, [Stream.COMPETITOR, Stream.INVENTORY], rate=100.0, count=100)
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    assert produced == {Stream.COMPETITOR: 100, Stream.INVENTORY: 100}
    assert 0.95 <= wall < 3.0  # event 100 of each stream is due 0.99 s in
    assert cpu < 0.5 * wall, f"{cpu:.2f}s CPU in {wall:.2f}s"

    records = reader.read_all()
    assert reader.counts() == {Stream.CLICKSTREAM: 0, Stream.INVENTORY: 100, Stream.COMPETITOR: 100}
    for stream in (Stream.COMPETITOR, Stream.INVENTORY):
        stamps = sorted(e.timestamp for _, e in decoded(stream, records[stream]))
        # Spread over the second, not a burst followed by a nap.
        assert (stamps[-1] - stamps[0]).total_seconds() >= 0.8, stream


def test_run_stops_cleanly_on_sigterm(topics: Settings, reader: TopicReader) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("needs signals")
    previous = signal.getsignal(signal.SIGTERM)

    def terminate_once_producing() -> None:
        reader.wait_for_any()  # the run loop is producing, so its handler is installed
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_once_producing, daemon=True)
    killer.start()
    produced = run(topics, [Stream.CLICKSTREAM], rate=2000.0, count=None)
    killer.join(timeout=10)
    assert signal.getsignal(signal.SIGTERM) is previous
    assert produced[Stream.CLICKSTREAM] > 0
    reader.read_all()
    assert reader.counts() == {Stream.CLICKSTREAM: produced[Stream.CLICKSTREAM], Stream.INVENTORY: 0,
                               Stream.COMPETITOR: 0}  # fmt: skip


REPORTED = re.compile(r"\b(clickstream|inventory|competitor)\b\s*│\s*([\d,]+)")


def test_simulate_command_flushes_everything_it_reports_on_sigterm(
    topics: Settings, reader: TopicReader
) -> None:
    rate = 50
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "pricing_platform", "simulate", "all", "--rate", str(rate), "--no-progress"],
        cwd=PROJECT_ROOT,
        env=settings_env(topics),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        reader.wait_for_any()
        time.sleep(1.5)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err[-3000:]
    reported = {Stream(name): int(n.replace(",", "")) for name, n in REPORTED.findall(out)}
    assert set(reported) == set(ALL_STREAMS), out
    ran_for = signalled - started
    for stream, n in reported.items():
        # Paced to --rate: at most what was due by the signal (plus the sales of the last few purchases).
        assert 0 < n <= rate * ran_for + 10, (stream, n, ran_for)
    reader.read_all()
    assert reader.counts() == reported


def test_run_with_progress_display(topics: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(topics, [Stream.COMPETITOR], count=100, progress=True) == {Stream.COMPETITOR: 100}
    assert "competitor" in capsys.readouterr().err


def test_run_with_count_zero_produces_nothing(topics: Settings, reader: TopicReader) -> None:
    assert run(topics, count=0) == dict.fromkeys(ALL_STREAMS, 0)
    reader.read_all()
    assert reader.counts() == dict.fromkeys(ALL_STREAMS, 0)


def test_simulated_streams_land_through_the_ingest_workers(topics: Settings, workers) -> None:
    db = topics.database_conninfo
    produced = run(topics, count=5000, seed=2025)
    assert produced == dict.fromkeys(ALL_STREAMS, 5000)

    running = {stream: workers(stream) for stream in Stream}

    def logs() -> str:
        return "".join(w.log()[-1500:] for w in running.values())

    expected = {
        "clickstream_events": produced[Stream.CLICKSTREAM],
        "inventory_events": OPENING_BALANCES + produced[Stream.INVENTORY],
        "competitor_prices": produced[Stream.COMPETITOR],
    }
    for table, rows in expected.items():
        wait_for_count(db, table, rows, logs=logs)
    time.sleep(0.5)  # anything past the counts (a duplicate, a late dead letter) would show up now
    assert {table: scalar(db, f"SELECT count(*) FROM {table}") for table in expected} == expected
    assert scalar(db, "SELECT count(*) FROM dead_letters") == 0
    # The simulator keeps stock in bounds, so no movement is rejected, and stock is the sum of movements.
    assert scalar(db, "SELECT count(*) FROM inventory_events WHERE status <> 'applied'") == 0
    assert stock_consistent(db) == []
    assert scalar(db, "SELECT min(current_stock) FROM inventory_state") >= 0  # type: ignore[operator]
    purchases = scalar(db, "SELECT count(*) FROM clickstream_events WHERE event_type = 'purchase'")
    assert scalar(db, "SELECT sum(purchases) FROM product_metrics") == purchases
    sales = scalar(db, "SELECT count(*) FROM inventory_events WHERE event_type = 'sale'")
    assert 0 < sales <= purchases  # type: ignore[operator]
    pairs = len(PRODUCTS) * len(COMPETITORS)
    assert scalar(db, "SELECT count(*) FROM competitor_prices_latest") == pairs
    for worker in running.values():
        assert worker.terminate() == 0, worker.log()[-2000:]
