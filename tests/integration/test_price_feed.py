"""The outbound price feed against the real broker and PostgreSQL: an applied price change reaches the
storefront through the outbox and a relay process, in order, once; through a relay SIGKILLed at random
moments, a PostgreSQL restart and a durable broker restart during approvals no change is lost and none is
applied twice; the durable (S3-backed) broker restarts past a stale watermark and continues its offsets;
two relays share the lanes; a fresh storefront recovers every current price from the feed alone; bad
messages are refused."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import msgspec
import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from pricing_platform.core.catalog import PRICE_CHANGES_TOPIC, PRODUCTS, TOPICS, Stream, consumer_group
from pricing_platform.core.events import PRICE_FEED_DECODER, PriceChangeEvent
from pricing_platform.core.settings import Settings
from pricing_platform.localstack import s3
from pricing_platform.localstack.broker import (
    BATCH_HEADER_BYTES,
    META_KEY,
    partition_prefixes,
    stored_batches,
)
from pricing_platform.localstack.retention import list_batches, sweep
from pricing_platform.simulators.storefront import AppliedPrice, Storefront
from pricing_platform.topics import ensure_topics
from tests.support.servers import BrokerProcess, PostgresProcess, S3rverProcess, free_port, server_root
from tests.support.workers import RelayProcess, produce, wait_until

pytestmark = pytest.mark.integration

PRODUCT_IDS = [p.product_id for p in PRODUCTS]


@pytest.fixture
def relays(
    topics: Settings, artifacts_dir: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., RelayProcess]]:
    started: list[RelayProcess] = []
    log_dir = artifacts_dir / "relays" / request.node.name
    log_dir.mkdir(parents=True, exist_ok=True)
    fast = topics.model_copy(
        update={"price_feed_poll_interval_s": 0.2, "price_feed_snapshot_interval_s": 3600.0}
    )

    def start(name: str | None = None) -> RelayProcess:
        relay = RelayProcess(fast, log_dir, name or f"relay-{len(started)}").start()
        started.append(relay)
        return relay

    yield start
    for relay in started:
        relay.stop_quietly()


@dataclass
class DurableBroker:
    s3rver: S3rverProcess
    broker: BrokerProcess
    logs: Path


@pytest.fixture
def durable(artifacts_dir: Path, request: pytest.FixtureRequest) -> Iterator[DurableBroker]:
    """A broker keeping its topics on a local S3 endpoint of its own, as the local stack's does."""
    root = server_root("pricing-feed-durable-")
    logs = artifacts_dir / "durable-broker" / request.node.name
    logs.mkdir(parents=True, exist_ok=True)
    s3rver = S3rverProcess(free_port(), root / "s3", logs / "s3rver.log")
    broker = BrokerProcess(free_port(), logs / "broker.log", s3_endpoint=s3rver.endpoint)
    try:
        s3rver.start("broker")
        broker.start()
        yield DurableBroker(s3rver, broker, logs)
    finally:
        broker.stop()
        s3rver.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def storefront(topics: Settings) -> Iterator[tuple[Storefront, list[AppliedPrice]]]:
    applied: list[AppliedPrice] = []
    front = Storefront(topics, applied.append, client_id="test-storefront")
    yield front, applied
    front.close()


def apply_change(conninfo: str, product_id: str, price: Decimal, by: str = "test") -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT version FROM apply_price_change(%s, %s, %s, %s)", (product_id, price, by, "a test")
        ).fetchone()
    assert row is not None
    return int(row[0])


def db_prices(conninfo: str) -> dict[str, tuple[Decimal, int]]:
    with psycopg.connect(conninfo) as conn:
        return {
            p: (price, v)
            for p, price, v in conn.execute("SELECT product_id, current_price, price_version FROM products")
        }


def unpublished(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM price_change_outbox WHERE published_at IS NULL").fetchone()
    return int(row[0]) if row else 0


def late_final(applied: list[AppliedPrice]) -> list[AppliedPrice]:
    """The last applied price per product."""
    return list({a.product_id: a for a in applied}.values())


def drain(
    front: Storefront, until: Callable[[], bool], timeout_s: float, what: str, detail: Callable[[], str] = str
) -> None:
    deadline = time.monotonic() + timeout_s
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}. {detail()}")
        front.poll(0.1)


def test_an_applied_change_reaches_the_storefront_in_order_and_is_marked_published(
    topics: Settings, relays: Callable[..., RelayProcess], storefront: tuple[Storefront, list[AppliedPrice]]
) -> None:
    front, applied = storefront
    front.catch_up()
    relays()
    db = topics.database_conninfo
    prices = [Decimal("850.00"), Decimal("829.99"), Decimal("869.99")]
    for price in prices:
        apply_change(db, "P001", price)
    drain(front, lambda: front.versions.get("P001") == 3, 30, "three versions of P001")
    changes = [a for a in applied if a.change_id is not None]  # a relay also snapshots when it starts
    assert [(a.product_id, a.price, a.version) for a in changes] == [
        ("P001", price, version) for version, price in enumerate(prices, start=1)
    ]
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT o.published_at IS NOT NULL, c.version, c.reason, c.approved_by "
            "FROM price_change_outbox o JOIN price_changes c USING (change_id) ORDER BY o.outbox_id"
        ).fetchall()
    assert rows == [(True, v, "a test", "test") for v in (1, 2, 3)]


@contextlib.contextmanager
def approving_continuously(conninfo: str, seed: int) -> Iterator[dict[str, int]]:
    """Applies random prices to a dozen products until the block ends; yields product → newest version."""
    rng = random.Random(seed)
    expected: dict[str, int] = {}
    stop = threading.Event()

    def approve() -> None:
        while not stop.is_set():
            product = rng.choice(PRODUCT_IDS[:12])
            price = Decimal(rng.randint(10_000, 90_000)) / 100
            try:
                expected[product] = apply_change(conninfo, product, price)
            except psycopg.errors.RaiseException:
                continue  # the same price twice in a row: refused, nothing changed
            except psycopg.OperationalError:
                # PostgreSQL restarting: a change cut off at its commit may have been applied after all,
                # so a test that restarts it reads the final versions from the database.
                time.sleep(0.2)
                continue
            time.sleep(0.01)

    approver = threading.Thread(target=approve)
    approver.start()
    try:
        yield expected
    finally:
        stop.set()
        approver.join()


def assert_converged(
    front: Storefront,
    applied: list[AppliedPrice],
    expected: dict[str, int],
    conninfo: str,
    *,
    superseded_may_be_skipped: bool = False,
) -> None:
    """The storefront saw every change once, in order, and shows every product's current price. With
    `superseded_may_be_skipped` (after a broker restart, whose lost changes the relay publishes again after
    newer ones: relay.py, "Broker outages"), each product's versions are applied in order and none twice,
    but one a newer version superseded before it arrived may be missing."""

    def detail() -> str:
        shown = dict(sorted(front.versions.items()))
        return f"storefront at {shown}, database at {dict(sorted(expected.items()))}"

    drain(front, lambda: all(front.versions.get(p, 0) >= v for p, v in expected.items()), 90, "every change",
          detail)  # fmt: skip
    if superseded_may_be_skipped:
        for product in expected:
            mine = [a.version for a in applied if a.product_id == product]
            assert mine == sorted(set(mine)), f"{product}: applied out of order or twice: {mine}"
    else:
        versions_seen = [(a.product_id, a.version) for a in applied if a.change_id is not None]
        assert len(versions_seen) == len(set(versions_seen)), "no version applied twice"
        for product, version in expected.items():
            mine = [v for p, v in versions_seen if p == product]
            assert mine == sorted(mine), f"{product}: applied out of order"
            assert mine == list(range(1, version + 1)), f"{product}: a change is missing"
    shown = {a.product_id: (a.price, a.version) for a in late_final(applied)}
    current = db_prices(conninfo)
    assert {p: shown[p] for p in expected} == {p: current[p] for p in expected}
    wait_until(lambda: unpublished(conninfo) == 0, 30, "every outbox row marked published")


def test_a_relay_killed_at_random_moments_loses_and_repeats_nothing(
    topics: Settings, relays: Callable[..., RelayProcess], storefront: tuple[Storefront, list[AppliedPrice]]
) -> None:
    front, applied = storefront
    front.catch_up()
    db = topics.database_conninfo
    rng = random.Random(7)
    with approving_continuously(db, seed=7) as expected:
        for _ in range(6):
            relay = relays()
            time.sleep(rng.uniform(0.3, 1.5))
            relay.signal(signal.SIGKILL)
            relay.process.wait(timeout=10)  # type: ignore[union-attr]
            front.poll(0.05)
    relays("survivor")
    assert_converged(front, applied, expected, db)


def test_changes_arrive_through_a_postgresql_restart(
    topics: Settings,
    postgres: PostgresProcess,
    relays: Callable[..., RelayProcess],
    storefront: tuple[Storefront, list[AppliedPrice]],
) -> None:
    front, _ = storefront
    front.catch_up()
    db = topics.database_conninfo
    relays()
    apply_change(db, "P002", Decimal("1150.00"))
    drain(front, lambda: front.versions.get("P002") == 1, 30, "the first change")
    postgres.stop()
    postgres.start()
    apply_change(db, "P002", Decimal("1100.00"))
    drain(front, lambda: front.versions.get("P002") == 2, 60, "the change after the restart")


def test_two_relays_share_the_lanes_and_one_takes_over_when_the_other_dies(
    topics: Settings, relays: Callable[..., RelayProcess], storefront: tuple[Storefront, list[AppliedPrice]]
) -> None:
    front, _ = storefront
    front.catch_up()
    db = topics.database_conninfo
    first, second = relays("first"), relays("second")

    def lanes_by_relay() -> list[int]:
        with psycopg.connect(db) as conn:
            return [
                count
                for (count,) in conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 28774 "
                    "GROUP BY pid ORDER BY pid"
                )
            ]

    wait_until(lambda: lanes_by_relay() == [8, 8], 30, "8 lanes each", lambda: str(lanes_by_relay()))
    first.signal(signal.SIGKILL)
    first.process.wait(timeout=10)  # type: ignore[union-attr]
    wait_until(
        lambda: lanes_by_relay() == [16],
        30,
        "the survivor holding all 16 lanes",
        lambda: str(lanes_by_relay()),
    )
    for product in PRODUCT_IDS:
        apply_change(db, product, Decimal("77.77"))
    drain(
        front, lambda: all(front.versions.get(p) == 1 for p in PRODUCT_IDS), 60, "a change of every product"
    )
    assert second.alive()


def test_a_fresh_storefront_recovers_every_current_price_from_the_feed(
    topics: Settings, relays: Callable[..., RelayProcess]
) -> None:
    db = topics.database_conninfo
    relays()
    for product in PRODUCT_IDS[:10]:
        apply_change(db, product, Decimal("123.45"))
        apply_change(db, product, Decimal("120.00"))
    wait_until(lambda: unpublished(db) == 0, 30, "the outbox published")
    applied: list[AppliedPrice] = []
    late = Storefront(topics, applied.append, client_id="late-storefront")
    try:
        late.catch_up()
        recovered = {a.product_id: (a.price, a.version) for a in late_final(applied)}
    finally:
        late.close()
    current = db_prices(db)
    assert recovered == current, "every product: the changed ones and, from the snapshot, the others"


def test_snapshots_keep_every_price_recoverable(
    topics: Settings, artifacts_dir: Path, request: pytest.FixtureRequest
) -> None:
    # A relay whose snapshot interval has passed publishes the current price of every product in its lanes.
    log_dir = artifacts_dir / "relays" / request.node.name
    log_dir.mkdir(parents=True, exist_ok=True)
    snapshotting = topics.model_copy(
        update={"price_feed_snapshot_interval_s": 0.5, "price_feed_poll_interval_s": 0.2}
    )
    relay = RelayProcess(snapshotting, log_dir, "snapshots").start()
    applied: list[AppliedPrice] = []
    front = Storefront(topics, applied.append, client_id="snapshot-storefront")
    try:
        deadline = time.monotonic() + 30
        while len(front.versions) < len(PRODUCT_IDS) and time.monotonic() < deadline:
            front.poll(0.2)
    finally:
        front.close()
        relay.stop_quietly()
    assert set(front.versions) == set(PRODUCT_IDS), "a snapshot of every product"
    assert all(a.change_id is None and a.version == 0 for a in applied), "no change was applied: version 0"
    assert {a.product_id: a.price for a in applied} == {p.product_id: p.base_price for p in PRODUCTS}


def test_the_storefront_refuses_bad_messages_and_applies_the_rest(
    topics: Settings, storefront: tuple[Storefront, list[AppliedPrice]]
) -> None:
    front, applied = storefront
    good = msgspec.json.encode(
        {
            "type": "price_snapshot",
            "product_id": "P003",
            "price": 650.0,
            "version": 4,
            "as_of": "2026-11-30T10:00:00Z",
        }
    )
    bad = [
        b"not json",
        msgspec.json.encode(
            {
                "type": "price_snapshot",
                "product_id": "P999",
                "price": 1.0,
                "version": 5,
                "as_of": "2026-11-30T10:00:00Z",
            }
        ),
        msgspec.json.encode(
            {
                "type": "price_snapshot",
                "product_id": "P003",
                "price": -3.0,
                "version": 6,
                "as_of": "2026-11-30T10:00:00Z",
            }
        ),
        msgspec.json.encode({"type": "discount", "product_id": "P003"}),
    ]
    produce(topics, [(PRICE_CHANGES_TOPIC.name, b"P003", value) for value in [*bad, good]])
    drain(front, lambda: front.versions.get("P003") == 4, 30, "the good message")
    assert [(a.product_id, a.price) for a in applied] == [("P003", Decimal("650.0"))]
    assert front.refused == len(bad)


def test_approvals_keep_arriving_through_a_durable_broker_restart_and_a_postgresql_restart(
    topics: Settings, postgres: PostgresProcess, durable: DurableBroker
) -> None:
    """While prices are approved continuously, the durable broker (topics on the local S3 endpoint) and
    then PostgreSQL restart: every change is on the feed, the storefront applies each product's versions in
    order and none twice and ends at the database's prices, and the outbox drains. A relay that exits on a
    broker error is started again, as the process manager would."""
    broker, logs = durable.broker, durable.logs
    with contextlib.ExitStack() as cleanup:
        settings = topics.model_copy(
            update={"kafka_bootstrap_servers": broker.bootstrap, "price_feed_poll_interval_s": 0.2,
                    "price_feed_snapshot_interval_s": 3600.0}
        )  # fmt: skip
        ensure_topics(settings)
        relays = [RelayProcess(settings, logs, "relay-0").start()]
        cleanup.callback(lambda: [r.stop_quietly() for r in relays])
        applied: list[AppliedPrice] = []
        front = Storefront(settings, applied.append, client_id="test-storefront-restarts")
        cleanup.callback(front.close)
        front.catch_up()
        db = settings.database_conninfo

        def keep_relaying(seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                front.poll(0.05)
                if not relays[-1].alive():
                    relays.append(RelayProcess(settings, logs, f"relay-{len(relays)}").start())

        with approving_continuously(db, seed=11):
            keep_relaying(2)
            broker.stop()
            keep_relaying(1)
            broker.start()
            keep_relaying(3)
            postgres.stop()
            keep_relaying(1)
            postgres.start()
            keep_relaying(3)
        expected = {p: v for p, (_, v) in db_prices(db).items() if v > 0}
        assert len(expected) >= 6, f"changes were approved throughout: {expected}"
        keep_relaying(0)

        assert_converged(front, applied, expected, db, superseded_may_be_skipped=True)
        # The feed: every change is on it.
        on_feed: dict[str, set[int]] = {}
        for value in read_topic(settings, PRICE_CHANGES_TOPIC.name):
            event = PRICE_FEED_DECODER.decode(value.encode())
            if isinstance(event, PriceChangeEvent):
                on_feed.setdefault(event.product_id, set()).add(event.version)
        missing = {p: sorted(set(range(1, v + 1)) - on_feed.get(p, set())) for p, v in expected.items()}
        assert not any(missing.values()), f"changes missing from the feed: {missing}"


def test_the_durable_broker_restarts_past_a_stale_watermark_without_reusing_offsets(
    durable: DurableBroker,
) -> None:
    """Tansu on s3rver can stop with a partition's stored watermark behind its batches (seen after a
    SIGTERM: 60 with batches up to offset 201); started on it, the broker would overwrite acknowledged
    batches. The broker's start repairs it: every message produced before and after survives."""
    s3rver, broker = durable.s3rver, durable.broker
    settings = Settings(kafka_bootstrap_servers=broker.bootstrap, kafka_consumer_assignment="static")
    ensure_topics(settings)
    topic = PRICE_CHANGES_TOPIC.name
    produce(settings, [(topic, b"P001", f"before-{i}".encode()) for i in range(30)])
    broker.stop()

    client = s3.client(s3rver.endpoint)
    partition = next(
        key.rsplit("/records/", 1)[0]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket="broker")
        for key in (o["Key"] for o in page.get("Contents", []))
        if "/records/" in key and f"/{topic}/" in key
    )
    stale = {"low": None, "high": 5, "timestamps": None}
    client.put_object(Bucket="broker", Key=f"{partition}/watermark.json", Body=json.dumps(stale).encode())

    broker.start()
    produce(settings, [(topic, b"P001", f"after-{i}".encode()) for i in range(10)])
    seen = read_topic(settings, topic)
    assert seen == [f"before-{i}" for i in range(30)] + [f"after-{i}" for i in range(10)]


def test_the_durable_broker_restarts_past_a_batch_cut_off_mid_write(durable: DurableBroker) -> None:
    """A crash in the middle of a batch's write can leave an object too short to hold one, and the broker
    fails every fetch that reaches it. The broker's start deletes it (its producer was never acknowledged):
    the messages before and after are read back, and the partition holds no short object."""
    s3rver, broker = durable.s3rver, durable.broker
    settings = Settings(kafka_bootstrap_servers=broker.bootstrap, kafka_consumer_assignment="static")
    ensure_topics(settings)
    topic = PRICE_CHANGES_TOPIC.name
    produce(settings, [(topic, b"P001", f"before-{i}".encode()) for i in range(20)])
    broker.stop()

    client = s3.client(s3rver.endpoint)
    records = next(
        f"{p}records/" for p in partition_prefixes(client, "broker") if stored_batches(client, "broker", p)
    )
    cut_off = f"{records}{20:020d}.batch"
    client.put_object(Bucket="broker", Key=cut_off, Body=b"\x00" * 20)

    broker.start()
    sizes = {o["Key"]: o["Size"] for o in stored_batches(client, "broker", records.removesuffix("records/"))}
    assert cut_off not in sizes and min(sizes.values()) >= BATCH_HEADER_BYTES, f"left behind: {sizes}"
    produce(settings, [(topic, b"P001", f"after-{i}".encode()) for i in range(5)])
    expected = [f"before-{i}" for i in range(20)] + [f"after-{i}" for i in range(5)]
    assert read_topic(settings, topic) == expected


def test_the_durable_broker_restarts_past_cut_off_metadata_with_its_topics(durable: DurableBroker) -> None:
    """The broker rewrites its cluster metadata (producers, topic registry) on every produce, in place on
    s3rver: a stop in the middle leaves it cut off. The broker's start rebuilds it with the topic registry:
    from the partitions when no backup has the topics yet, then with the ids the backup keeps. Every
    message before and after is read back."""
    s3rver, broker = durable.s3rver, durable.broker
    settings = Settings(kafka_bootstrap_servers=broker.bootstrap, kafka_consumer_assignment="static")
    ensure_topics(settings)
    topic = PRICE_CHANGES_TOPIC.name
    client = s3.client(s3rver.endpoint)

    def cut_off_metadata() -> dict[str, str]:
        """Stop the broker and leave its metadata cut off mid-write; the topic ids it held."""
        broker.stop()
        whole = client.get_object(Bucket="broker", Key=META_KEY)["Body"].read()
        client.put_object(Bucket="broker", Key=META_KEY, Body=whole[: len(whole) // 2])
        return {name: entry["id"] for name, entry in json.loads(whole)["topics"].items()}

    def registry() -> dict[str, str]:
        meta = json.loads(client.get_object(Bucket="broker", Key=META_KEY)["Body"].read())
        return {name: entry["id"] for name, entry in meta["topics"].items()}

    produce(settings, [(topic, b"P001", f"before-{i}".encode()) for i in range(20)])
    first_ids = cut_off_metadata()  # no backup yet: the topics were created after the broker started
    broker.start()
    assert set(registry()) == set(first_ids), "every topic registered again from its partitions"
    produce(settings, [(topic, b"P001", f"between-{i}".encode()) for i in range(5)])
    assert read_topic(settings, topic) == [f"before-{i}" for i in range(20)] + [
        f"between-{i}" for i in range(5)
    ]

    broker.stop()
    broker.start()  # whole metadata: its start backs the registry up
    second_ids = cut_off_metadata()
    broker.start()
    assert registry() == second_ids, "the same topic ids, from the backup"
    produce(settings, [(topic, b"P001", f"after-{i}".encode()) for i in range(10)])
    assert read_topic(settings, topic) == [
        *(f"before-{i}" for i in range(20)), *(f"between-{i}" for i in range(5)),
        *(f"after-{i}" for i in range(10)),
    ]  # fmt: skip


def test_retention_deletes_only_stored_batches_and_the_broker_serves_from_the_first_kept(
    durable: DurableBroker, database: str
) -> None:
    """The local broker keeps no retention of its own; the stack's sweeper (localstack/retention.py)
    deletes, through the S3 endpoint, the old batches of a landed topic that ingest has stored, and no
    other. The broker then serves the partition from the first kept batch (its listing of the partition,
    answered by the endpoint's listing index, no longer shows the deleted ones) and goes on taking
    messages."""
    s3rver, broker = durable.s3rver, durable.broker
    settings = Settings(
        kafka_bootstrap_servers=broker.bootstrap,
        kafka_consumer_assignment="static",
        database_url=database,
        local_broker_bucket="broker",
        local_topic_retention_hours=1,
    )
    ensure_topics(settings)
    stream = Stream.INVENTORY
    topic = TOPICS[stream].name
    for i in range(6):
        produce(settings, [(topic, b"P001", f"m{i}".encode())])  # a producer each: one batch each
    client = s3.client(s3rver.endpoint)
    partition = next(p for p in range(TOPICS[stream].partitions) if list_batches(client, "broker", topic, p))
    offsets = [batch.base_offset for batch, _ in list_batches(client, "broker", topic, partition)]
    assert offsets == [0, 1, 2, 3, 4, 5]
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO ingest_offsets (consumer_group, topic, partition, next_offset) "
            "VALUES (%s, %s, %s, %s)",
            (consumer_group(stream, settings.kafka_group_prefix), topic, partition, 4),
        )

    assert sweep(settings, client).deleted == 0, "younger than the retention: all stay"
    result = sweep(settings, client, now=datetime.now(UTC) + timedelta(hours=2))
    assert result.deleted == 4, "stored below offset 4 and older than the retention"
    offsets = [batch.base_offset for batch, _ in list_batches(client, "broker", topic, partition)]
    assert offsets == [4, 5]
    produce(settings, [(topic, b"P001", b"m6")])
    assert read_topic(settings, topic) == ["m4", "m5", "m6"]


def read_topic(settings: Settings, topic: str) -> list[str]:
    """Every message of `topic` from its start, partition by partition."""
    consumer = Consumer(
        {**settings.kafka_common_config(), "group.id": f"read-{uuid.uuid4().hex[:8]}",
         "enable.partition.eof": True, "enable.auto.commit": False}
    )  # fmt: skip
    partitions = PRICE_CHANGES_TOPIC.partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    values: list[tuple[int, int, str]] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + 30
    try:
        while len(at_end) < partitions and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error() is not None:
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        at_end.add(message.partition())
                    continue
                values.append((message.partition(), message.offset(), (message.value() or b"").decode()))
    finally:
        consumer.close()
    return [v for _, _, v in sorted(values)]
