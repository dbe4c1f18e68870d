"""The ingest path against the real broker and the real PostgreSQL: exactly once, through crashes,
poison messages, database outages, rebalances and stalled consumers."""

from __future__ import annotations

import random
import re
import signal
import threading
import time
from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest

from pricing_platform.core.catalog import COMPETITORS, INITIAL_STOCK, PRODUCTS, TOPICS, WAREHOUSES, Stream
from pricing_platform.core.events import ClickstreamEvent
from pricing_platform.core.settings import Settings
from tests.support.factories import (
    CLICK_TOPIC,
    COMPETITOR_TOPIC,
    INVENTORY_TOPIC,
    click,
    message,
    minutes_ago,
    movement,
    now,
    price,
)
from tests.support.workers import produce, scalar, stock_consistent, wait_for_count, wait_until

pytestmark = pytest.mark.integration

CLICK_TYPES = ("page_view", "product_view", "add_to_cart", "remove_from_cart", "purchase")


def random_clicks(n: int, seed: int) -> list[ClickstreamEvent]:
    rng = random.Random(seed)
    events = []
    for _ in range(n):
        kind = rng.choice(CLICK_TYPES)
        events.append(click(None if kind == "page_view" else rng.choice(PRODUCTS).product_id, kind))
    return events


def expected_metrics(events: list[ClickstreamEvent]) -> dict[str, tuple[int, int, int, int, Decimal]]:
    totals: dict[str, list] = defaultdict(lambda: [0, 0, 0, 0, Decimal("0.00")])
    index = {"product_view": 0, "add_to_cart": 1, "remove_from_cart": 2, "purchase": 3}
    for e in events:
        if e.event_type in index:
            row = totals[e.product_id]  # type: ignore[index]
            row[index[e.event_type]] += 1
            if e.event_type == "purchase":
                row[4] += e.product_price
    return {pid: tuple(values) for pid, values in totals.items()}  # type: ignore[misc]


def stored_metrics(conninfo: str) -> dict[str, tuple[int, int, int, int, Decimal]]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT product_id, product_views, cart_adds, cart_removes, purchases, revenue "
            "FROM product_metrics WHERE product_views + cart_adds + cart_removes + purchases > 0"
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}  # type: ignore[misc]


def assert_offsets_at_end(conninfo: str, settings: Settings, stream: Stream, total: int) -> None:
    def stored() -> int:
        return scalar(
            conninfo,
            "SELECT sum(next_offset) FROM ingest_offsets WHERE topic = %s AND consumer_group = %s",
            (TOPICS[stream].name, f"{settings.kafka_group_prefix}-{stream.value}"),
        )

    # Seen once at load average 16: every row landed with the positions 1,626 short. Waiting tells a lag
    # (positions catch up) from a gap (they never do), which still fails.
    wait_until(lambda: stored() == total, 30, f"offsets covering all {total} messages", lambda: f"{stored()}")


def test_every_stream_lands_exactly_once_with_derived_state(topics: Settings, workers) -> None:
    db = topics.database_conninfo
    clicks = random_clicks(3000, seed=1)
    replayed = clicks[:200]  # a producer that re-sends events it already sent: same event ids
    rng = random.Random(2)
    moves = [
        movement(rng.choice(PRODUCTS).product_id, rng.choice(WAREHOUSES), "stock_received", 5)
        for _ in range(300)
    ]
    prices = [
        price(p.product_id, c, str(p.base_price - 10), at=minutes_ago(i))
        for i, (p, c) in enumerate((p, c) for p in PRODUCTS for c in COMPETITORS)
    ]
    produce(topics, [message(CLICK_TOPIC, e) for e in clicks + replayed])
    produce(topics, [message(INVENTORY_TOPIC, e) for e in moves])
    produce(topics, [message(COMPETITOR_TOPIC, e) for e in prices])

    running = [workers(stream) for stream in Stream]
    wait_for_count(db, "clickstream_events", len(clicks), logs=running[0].log)
    wait_for_count(db, "inventory_events", len(WAREHOUSES) * len(PRODUCTS) + len(moves), logs=running[1].log)
    wait_for_count(db, "competitor_prices", len(prices), logs=running[2].log)
    assert_offsets_at_end(db, topics, Stream.CLICKSTREAM, len(clicks) + len(replayed))
    time.sleep(1)  # a late double-apply would show up now

    assert scalar(db, "SELECT count(*) FROM clickstream_events") == len(clicks)
    assert stored_metrics(db) == expected_metrics(clicks)
    received = Counter((m.product_id, m.warehouse_id) for m in moves)
    with psycopg.connect(db) as conn:
        stock = dict(
            ((p, w), s)
            for p, w, s in conn.execute("SELECT product_id, warehouse_id, current_stock FROM inventory_state")
        )
        latest = conn.execute(
            "SELECT count(*), sum(competitor_price) FROM competitor_prices_latest"
        ).fetchone()
    assert stock == {
        (p.product_id, w): INITIAL_STOCK + 5 * received[(p.product_id, w)]
        for p in PRODUCTS
        for w in WAREHOUSES
    }
    assert stock_consistent(db) == []
    assert latest == (len(PRODUCTS) * len(COMPETITORS), sum(e.competitor_price for e in prices))
    assert scalar(db, "SELECT count(*) FROM dead_letters") == 0
    # The per-minute counts the dashboard reads add up to exactly the rows landed (replays not counted).
    landed = {
        "clickstream": len(clicks),
        "inventory": len(moves),
        "competitor": len(prices),
    }
    for stream, count in landed.items():
        counted = "SELECT coalesce(sum(events), 0) FROM ingest_throughput WHERE stream = %s"
        assert scalar(db, counted, (stream,)) == count, stream
    for worker in running:
        assert worker.terminate() == 0, worker.log()[-2000:]


def test_sigkill_mid_stream_then_restart_leaves_exact_counts(topics: Settings, workers) -> None:
    db = topics.database_conninfo
    clicks = random_clicks(60_000, seed=3)
    producer = threading.Thread(target=produce, args=(topics, (message(CLICK_TOPIC, e) for e in clicks)))
    producer.start()
    first = workers(Stream.CLICKSTREAM, "victim")
    wait_until(
        lambda: (scalar(db, "SELECT count(*) FROM clickstream_events") or 0) > 0, 60, "first rows", first.log
    )
    first.kill()
    landed_at_kill = scalar(db, "SELECT count(*) FROM clickstream_events")
    producer.join()
    second = workers(Stream.CLICKSTREAM, "successor")
    wait_for_count(db, "clickstream_events", len(clicks), timeout_s=120, logs=second.log)
    assert landed_at_kill < len(clicks), "the kill must happen mid-stream for this test to mean anything"
    assert stored_metrics(db) == expected_metrics(clicks)
    assert_offsets_at_end(db, topics, Stream.CLICKSTREAM, len(clicks))


def test_poison_messages_are_dead_lettered_and_the_partition_keeps_moving(topics: Settings, workers) -> None:
    db = topics.database_conninfo
    good = [click("P001", "purchase") for _ in range(20)]
    future = click("P001", "product_view", at=now() + timedelta(hours=2))
    unknown_product = message(CLICK_TOPIC, click("P001", "purchase"))[2].replace(b'"P001"', b'"P999"')
    poison: list[tuple[str, bytes | None, bytes | None]] = [
        (CLICK_TOPIC, b"P001", b'{"event_id": "not json'),
        (CLICK_TOPIC, b"P001", b'{"event_id": 5}'),
        (CLICK_TOPIC, b"P001", b"\xff\xfe binary junk"),
        (CLICK_TOPIC, b"P001", None),
        (CLICK_TOPIC, b"P001", unknown_product),
        message(CLICK_TOPIC, future),
    ]
    interleaved = (
        [message(CLICK_TOPIC, e) for e in good[:10]] + poison + [message(CLICK_TOPIC, e) for e in good[10:]]
    )
    produce(topics, interleaved)

    worker = workers(Stream.CLICKSTREAM)
    wait_for_count(db, "dead_letters", len(poison), logs=worker.log)
    wait_for_count(db, "clickstream_events", len(good), logs=worker.log)
    with psycopg.connect(db) as conn:
        letters = conn.execute(
            "SELECT error_kind, reason, payload FROM dead_letters ORDER BY kafka_offset"
        ).fetchall()
    kinds = [kind for kind, _, _ in letters]
    reasons = " | ".join(reason for _, reason, _ in letters)
    assert kinds == ["malformed", "malformed", "malformed", "malformed", "contract", "contract"]
    assert "unknown product_id 'P999'" in reasons
    assert "in the future" in reasons
    assert letters[0][2] == b'{"event_id": "not json', "the raw payload is kept for replay"
    assert_offsets_at_end(db, topics, Stream.CLICKSTREAM, len(interleaved))
    assert stored_metrics(db)["P001"][3] == len(good)
    assert scalar(db, "SELECT sum(dead_letters) FROM ingest_throughput WHERE stream = 'clickstream'") == 6


def test_postgres_outage_mid_stream_loses_nothing(topics: Settings, workers, postgres) -> None:
    db = topics.database_conninfo
    before, during = random_clicks(5000, seed=4), random_clicks(5000, seed=5)
    produce(topics, [message(CLICK_TOPIC, e) for e in before])
    worker = workers(Stream.CLICKSTREAM)
    wait_for_count(db, "clickstream_events", len(before), logs=worker.log)
    postgres.stop()
    try:
        produce(topics, [message(CLICK_TOPIC, e) for e in during])
        time.sleep(4)
        assert worker.alive(), "the worker must ride out the outage, not crash"
    finally:
        postgres.start()
    wait_for_count(db, "clickstream_events", len(before) + len(during), timeout_s=90, logs=worker.log)
    assert stored_metrics(db) == expected_metrics(before + during)
    assert "database error, retrying" in worker.log()


def test_negative_stock_movements_are_rejected_and_stock_stays_consistent(topics: Settings, workers) -> None:
    db = topics.database_conninfo
    slot = ("P013", "WH-LAGOS")
    sequence = [
        movement(*slot, "sale", -400),  # 500 → 100
        movement(*slot, "sale", -150),  # rejected: would be -50
        movement(*slot, "stock_received", 50),  # → 150
        movement(*slot, "stock_damaged", -150),  # → 0
        movement(*slot, "sale", -1),  # rejected
    ]
    produce(topics, [message(INVENTORY_TOPIC, e) for e in sequence])
    worker = workers(Stream.INVENTORY)
    wait_for_count(db, "inventory_events", 90 + len(sequence), logs=worker.log)
    with psycopg.connect(db) as conn:
        stock = conn.execute(
            "SELECT current_stock FROM inventory_state WHERE product_id = %s AND warehouse_id = %s", slot
        ).fetchone()
        audit = conn.execute(
            "SELECT quantity_change, status, stock_after, reject_reason FROM inventory_events "
            "WHERE event_id = ANY(%s)",
            ([e.event_id for e in sequence],),
        ).fetchall()
    assert stock == (0,)
    by_change = {(q, status): (after, reason) for q, status, after, reason in audit}
    assert by_change[(-150, "rejected")][0] == 100
    assert "below zero" in by_change[(-150, "rejected")][1]
    assert (-1, "rejected") in by_change
    assert sorted(status for _, status, _, _ in audit) == ["applied"] * 3 + ["rejected"] * 2
    assert stock_consistent(db) == []


LATEST_TECHMART_P002 = (
    "SELECT competitor_price FROM competitor_prices_latest "
    "WHERE product_id = 'P002' AND competitor_name = 'TechMart'"
)


def test_out_of_order_competitor_prices_never_overwrite_a_newer_latest(topics: Settings, workers) -> None:
    db = topics.database_conninfo
    newest = price("P002", "TechMart", "1100.00", at=minutes_ago(1))
    older_same_batch = price("P002", "TechMart", "1000.00", at=minutes_ago(30))
    produce(topics, [message(COMPETITOR_TOPIC, e) for e in (newest, older_same_batch)])
    worker = workers(Stream.COMPETITOR)
    wait_for_count(db, "competitor_prices", 2, logs=worker.log)
    late = price("P002", "TechMart", "900.00", at=minutes_ago(60))  # arrives in a later batch
    produce(topics, [message(COMPETITOR_TOPIC, late)])
    wait_for_count(db, "competitor_prices", 3, logs=worker.log)
    latest = scalar(db, LATEST_TECHMART_P002)
    assert latest == Decimal("1100.00")
    fresher = price("P002", "TechMart", "1050.00")
    produce(topics, [message(COMPETITOR_TOPIC, fresher)])
    wait_for_count(db, "competitor_prices", 4, logs=worker.log)
    wait_until(
        lambda: scalar(db, LATEST_TECHMART_P002) == Decimal("1050.00"),
        10,
        "a newer observation to move the latest price",
    )


ASSIGNED = re.compile(r": assigned (.*)$", re.MULTILINE)


def last_assignment(log: str) -> set[int]:
    found = ASSIGNED.findall(log)
    if not found or found[-1] == "nothing":
        return set()
    return {int(p) for p in re.findall(r"\[(\d+)\]", found[-1])}


def test_static_assignment_survives_a_sigkill_and_fences_a_second_claimant(topics: Settings, workers) -> None:
    # The local stack's workers take every partition themselves (no broker-side group): a SIGKILLed one
    # resumes from PostgreSQL, and a second worker claiming the same partitions never double-counts.
    db = topics.database_conninfo
    clicks = random_clicks(40_000, seed=8)
    producer = threading.Thread(target=produce, args=(topics, (message(CLICK_TOPIC, e) for e in clicks)))
    producer.start()
    first = workers(Stream.CLICKSTREAM, "static-a", kafka_consumer_assignment="static")
    wait_until(
        lambda: (scalar(db, "SELECT count(*) FROM clickstream_events") or 0) > 0, 60, "rows", first.log
    )
    first.kill()
    second = workers(Stream.CLICKSTREAM, "static-b", kafka_consumer_assignment="static")
    third = workers(Stream.CLICKSTREAM, "static-c", kafka_consumer_assignment="static")
    producer.join()
    wait_for_count(
        db, "clickstream_events", len(clicks), timeout_s=120, logs=lambda: second.log() + third.log()
    )
    assert "static assignment" in second.log()
    assert stored_metrics(db) == expected_metrics(clicks)
    assert_offsets_at_end(db, topics, Stream.CLICKSTREAM, len(clicks))


def test_two_workers_split_partitions_and_land_everything_once(topics: Settings, workers) -> None:
    db = topics.database_conninfo
    a, b = workers(Stream.CLICKSTREAM, "a"), workers(Stream.CLICKSTREAM, "b")
    wait_until(
        lambda: bool(last_assignment(a.log()) and last_assignment(b.log())),
        60,
        "both workers to own partitions",
        lambda: a.log()[-1500:] + b.log()[-1500:],
    )
    clicks = random_clicks(30_000, seed=6)
    produce(topics, [message(CLICK_TOPIC, e) for e in clicks])
    wait_for_count(db, "clickstream_events", len(clicks), timeout_s=90, logs=lambda: a.log() + b.log())
    owned_a, owned_b = last_assignment(a.log()), last_assignment(b.log())
    assert owned_a and owned_b and not owned_a & owned_b and owned_a | owned_b == set(range(6))
    assert stored_metrics(db) == expected_metrics(clicks)
    assert_offsets_at_end(db, topics, Stream.CLICKSTREAM, len(clicks))


def test_consumer_stalled_past_its_session_commits_nothing_stale(topics: Settings, workers) -> None:
    db = topics.database_conninfo
    a, b = workers(Stream.CLICKSTREAM, "stalled"), workers(Stream.CLICKSTREAM, "healthy")
    wait_until(
        lambda: last_assignment(a.log()) and last_assignment(b.log()), 60, "both workers to own partitions"
    )
    clicks = random_clicks(40_000, seed=7)
    stop_producing = threading.Event()

    def trickle() -> None:
        for start in range(0, len(clicks), 2000):
            produce(topics, [message(CLICK_TOPIC, e) for e in clicks[start : start + 2000]])
            if stop_producing.wait(0.5):
                return

    producer = threading.Thread(target=trickle)
    producer.start()
    try:
        wait_until(lambda: (scalar(db, "SELECT count(*) FROM clickstream_events") or 0) > 2000, 60, "rows")
        a.signal(signal.SIGSTOP)
        time.sleep(topics.kafka_session_timeout_ms / 1000 + 6)  # healthy worker takes over the partitions
        a.signal(signal.SIGCONT)
        producer.join()
    finally:
        stop_producing.set()
        a.signal(signal.SIGCONT)
    wait_for_count(db, "clickstream_events", len(clicks), timeout_s=120, logs=lambda: a.log() + b.log())
    time.sleep(2)
    assert scalar(db, "SELECT count(*) FROM clickstream_events") == len(clicks)
    assert stored_metrics(db) == expected_metrics(clicks)
    assert_offsets_at_end(db, topics, Stream.CLICKSTREAM, len(clicks))


def test_event_the_database_refuses_is_isolated_and_dead_lettered(topics: Settings, workers) -> None:
    db = topics.database_conninfo
    good = [price("P003", c, "650.00") for c in COMPETITORS]
    # Valid by the contract, but its percentage overflows the column: retrying could never succeed.
    overflow = price("P003", "TechMart", "99999999.99").__replace__(
        our_price=Decimal("0.01"),
        price_difference=Decimal("99999999.98"),
        price_difference_pct=Decimal("999999999800"),
    )
    produce(topics, [message(COMPETITOR_TOPIC, e) for e in (good[0], overflow, good[1], good[2])])
    worker = workers(Stream.COMPETITOR)
    wait_for_count(db, "competitor_prices", len(good), logs=worker.log)
    wait_for_count(db, "dead_letters", 1, logs=worker.log)
    kind, reason = scalar(db, "SELECT (error_kind, reason) FROM dead_letters")  # type: ignore[misc]
    assert kind == "database"
    assert "numeric field overflow" in reason
    assert_offsets_at_end(db, topics, Stream.COMPETITOR, 4)
    assert worker.alive()


def writer_waiting_on_a_lock(db: str, worker: str) -> bool:
    return bool(
        scalar(
            db,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            (f"pricing-ingest:{worker}:writer",),
        )
    )


def product_clicks(n: int, seed: int) -> list[ClickstreamEvent]:
    rng = random.Random(seed)
    return [click(rng.choice(PRODUCTS).product_id, rng.choice(CLICK_TYPES[1:])) for _ in range(n)]


def test_stalled_owner_mid_transaction_and_its_successor_never_both_commit(topics: Settings, workers) -> None:
    """Deterministic zombie: the first owner is frozen inside its batch transaction while a second worker
    takes the partitions over and consumes the same messages. Exactly one of the two batches commits; the
    other is fenced by the offsets compare-and-set and rolled back whole."""
    db = topics.database_conninfo
    first, second, third = product_clicks(1000, 8), product_clicks(1000, 9), product_clicks(1000, 10)
    produce(topics, [message(CLICK_TOPIC, e) for e in first])
    stalled = workers(Stream.CLICKSTREAM, "stalled")
    wait_for_count(db, "clickstream_events", len(first), logs=stalled.log)

    locker = psycopg.connect(db)  # holds the metrics rows, so the next batch stops inside its transaction
    locker.execute("SELECT product_id FROM product_metrics FOR UPDATE")
    healthy = None
    try:
        produce(topics, [message(CLICK_TOPIC, e) for e in second])
        wait_until(
            lambda: writer_waiting_on_a_lock(db, "stalled"), 30, "the batch to wait inside its transaction"
        )
        stalled.signal(signal.SIGSTOP)
        healthy = workers(Stream.CLICKSTREAM, "healthy")
        # After the stalled worker's session times out, the healthy one owns every partition, reads the
        # old positions and blocks on the offsets rows the frozen transaction still holds.
        wait_until(lambda: writer_waiting_on_a_lock(db, "healthy"), 60, "the successor's batch", healthy.log)
        locker.rollback()
        time.sleep(1)
        assert writer_waiting_on_a_lock(db, "healthy"), "the frozen transaction still holds the offsets"
    finally:
        locker.close()
        stalled.signal(signal.SIGCONT)
    assert healthy is not None
    wait_for_count(
        db, "clickstream_events", len(first) + len(second), logs=lambda: stalled.log() + healthy.log()
    )
    wait_until(lambda: "batch rolled back" in healthy.log(), 30, "the successor to be fenced", healthy.log)
    produce(topics, [message(CLICK_TOPIC, e) for e in third])
    everything = first + second + third
    wait_for_count(db, "clickstream_events", len(everything), logs=lambda: stalled.log() + healthy.log())
    time.sleep(1)
    assert stored_metrics(db) == expected_metrics(everything)
    assert_offsets_at_end(db, topics, Stream.CLICKSTREAM, len(everything))
