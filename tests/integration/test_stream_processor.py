"""The stream processor (Quix Streams) on the real broker and PostgreSQL: sessions, cart abandonments and
per-minute funnel counts land exactly once through a SIGKILL mid-window; bad input is dead-lettered.

Event time is synthetic and runs 20× faster than the wall clock (a step of 50 ms is one second of event
time), so minutes close in seconds. A steady trickle of one-page-view shopper sessions keeps every
partition's event time moving, as a live shop does.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Producer

from pricing_platform.core.catalog import PRODUCTS, TOPICS, Stream
from pricing_platform.core.events import ENCODER, ClickstreamEvent
from pricing_platform.core.settings import Settings
from pricing_platform.streaming.clock import group_time
from pricing_platform.streaming.processor import processor_group
from tests.support.workers import PlatformProcess, wait_until

pytestmark = pytest.mark.integration

GAP_S = 30  # event-time seconds
SESSIONS = 48
STEPS = 420
KILL_AT_STEP = 150
# The same id before and after the SIGKILL, as `up` gives it: the restarted processor fences the dead one.
PROCESSOR = ["stream-processor", "--processor-id", "test-processor"]
LANDING = ["ingest", "sessions", "cart_abandonments", "funnel_minutes"]


@dataclass
class ScriptedSession:
    session_id: uuid.UUID
    start_step: int
    carts: int
    buys: bool
    product: str
    price: Decimal
    events: list[tuple[int, str]] = field(default_factory=list)  # (step, event type)

    def __post_init__(self) -> None:
        kinds = ["page_view", "product_view", *["add_to_cart"] * self.carts]
        if self.buys:
            kinds.append("purchase")
        # 5 event-time seconds apart: well within the 30 s gap, so each script is one session.
        self.events = [(self.start_step + 5 * i, kind) for i, kind in enumerate(kinds)]


def _click(
    session_id: uuid.UUID, kind: str, at: datetime, product: str | None, price: Decimal | None
) -> bytes:
    catalog_product = next((p for p in PRODUCTS if p.product_id == product), None)
    return ENCODER.encode(
        ClickstreamEvent(
            event_id=uuid.uuid4(),
            user_id=f"user-{session_id.hex[:8]}",
            session_id=session_id,
            event_type=kind,  # type: ignore[arg-type]
            product_id=None if kind == "page_view" else product,
            product_name=None if kind == "page_view" or catalog_product is None else catalog_product.name,
            product_category=None
            if kind == "page_view" or catalog_product is None
            else catalog_product.category,  # type: ignore[arg-type]
            product_price=None if kind == "page_view" else price,
            device_type="mobile",
            timestamp=at,
        )
    )


# A product no script uses for each partition: a product's events keep to one partition, as the contract's
# key makes them.
TRICKLE_PRODUCTS = PRODUCTS[-6:]


def _trickle(producer: Producer, topic: str, step: int, at: datetime) -> None:
    """A one-click shopper session on partition `step` mod 6: a page view, or every other round a view of
    that partition's trickle product (minutes close only as a partition's product events move on)."""
    shopper = uuid.uuid4()
    partition = step % 6
    if (step // 6) % 2:
        value, key = _click(shopper, "page_view", at, None, None), str(shopper)
    else:
        product = TRICKLE_PRODUCTS[partition]
        value = _click(shopper, "product_view", at, product.product_id, product.base_price)
        key = product.product_id
    producer.produce(topic, value, key.encode(), partition=partition, timestamp=int(at.timestamp() * 1000))


def _processor_settings(topics: Settings, tmp_path: Path) -> Settings:
    return topics.model_copy(
        update={
            "stream_session_gap_s": GAP_S,
            # The backlog a restart leaves (~12 s of wall time on a quiet machine, over 20 s on a loaded
            # one: 400+ s of event time) is read a partition at a time: the grace covers that skew.
            "stream_grace_s": 900,
            "stream_clock_quiet_s": 600,
            "stream_clock_interval_s": 0.5,
            "stream_clock_lag_s": GAP_S,
            "stream_commit_interval_s": 0.5,
            "stream_state_dir": tmp_path / "stream-state",
            "stream_metrics_port": 0,
            "stream_landing_metrics_port": 0,
        }
    )


def test_sessions_abandonments_and_funnel_land_exactly_once_through_a_sigkill(
    topics: Settings, tmp_path: Path, artifacts_dir: Path
) -> None:
    settings = _processor_settings(topics, tmp_path)
    log_dir = artifacts_dir / "stream-processor"
    log_dir.mkdir(parents=True, exist_ok=True)
    landing = PlatformProcess(
        [*LANDING, "--worker-id", "landing"],
        settings, log_dir, "landing",
    ).start()  # fmt: skip
    processor = PlatformProcess(PROCESSOR, settings, log_dir, "processor-1").start()
    processes = [landing, processor]
    rng = random.Random(7)
    products = PRODUCTS[:6]
    scripts = []
    for i in range(SESSIONS):
        product = products[i % len(products)]
        carts = rng.choice([0, 1, 3, 4])
        scripts.append(
            ScriptedSession(
                uuid.uuid4(),
                10 + 6 * i,
                carts,
                buys=carts == 1 and rng.random() < 0.7,
                product=product.product_id,
                price=product.base_price,
            )
        )
    by_step: dict[int, list[tuple[ScriptedSession, str]]] = {}
    for script in scripts:
        for step, kind in script.events:
            by_step.setdefault(step, []).append((script, kind))

    raw = TOPICS[Stream.CLICKSTREAM].name
    producer = Producer({**settings.kafka_common_config(), "enable.idempotence": True, "linger.ms": 5})
    start = datetime.now(UTC) - timedelta(hours=2)
    try:
        for step in range(STEPS):
            at = start + timedelta(seconds=step)
            # The trickle: a one-page-view session, on a rotating partition.
            _trickle(producer, raw, step, at)
            for script, kind in by_step.get(step, []):
                key = (script.product if kind != "page_view" else str(script.session_id)).encode()
                producer.produce(raw, _click(script.session_id, kind, at, script.product, script.price), key)
            if step == 20:
                producer.produce(raw, b"{not json", b"P001")
                unknown = _click(uuid.uuid4(), "product_view", at, "NO-SUCH-PRODUCT", Decimal("9.99"))
                producer.produce(raw, unknown, b"NO-SUCH-PRODUCT")
                # Stamped an hour ahead: refused, so it cannot carry the windows' time with it.
                future = datetime.now(UTC) + timedelta(hours=1)
                ahead = _click(uuid.uuid4(), "product_view", future, PRODUCTS[7].product_id, Decimal("9.99"))
                producer.produce(raw, ahead, PRODUCTS[7].product_id.encode())
            producer.poll(0)
            if step == KILL_AT_STEP:
                producer.flush(10)
                # Mid-window: some sessions are open in the processor's state, some closed but maybe not
                # yet committed.
                processor.kill()
                processor = PlatformProcess(PROCESSOR, settings, log_dir, "processor-2").start()
                processes.append(processor)
            time.sleep(0.05)
        assert producer.flush(30) == 0

        expected_ids = {s.session_id for s in scripts}
        conninfo = settings.database_conninfo

        def landed() -> int:
            with psycopg.connect(conninfo) as conn:
                return conn.execute(
                    "SELECT count(*) FROM shopper_sessions WHERE session_id = ANY(%s)", (list(expected_ids),)
                ).fetchone()[0]

        # Keep the trickle going (event time moves on) until every scripted session has closed and landed.
        step = STEPS
        deadline = time.monotonic() + 180
        while landed() < len(scripts):
            assert time.monotonic() < deadline, (
                f"{landed()}/{len(scripts)} sessions landed\n"
                f"{processor.log()[-3000:]}\n{landing.log()[-2000:]}"
            )
            at = start + timedelta(seconds=step)
            _trickle(producer, raw, step, at)
            producer.poll(0)
            step += 1
            time.sleep(0.05)

        with psycopg.connect(conninfo) as conn:
            rows = {
                r[0]: r[1:]
                for r in conn.execute(
                    "SELECT session_id, events, product_views, cart_adds, purchases, converted, revenue, "
                    "products_viewed, ended_at - started_at FROM shopper_sessions WHERE session_id = ANY(%s)",
                    (list(expected_ids),),
                ).fetchall()
            }
            letters = conn.execute(
                "SELECT error_kind, reason FROM dead_letters WHERE consumer_group = %s ORDER BY error_kind",
                (processor_group(settings),),
            ).fetchall()
        wrong = []
        for script in scripts:
            purchases = int(script.buys)
            want_row = (
                len(script.events), 1, script.carts, purchases, bool(purchases),
                script.price * purchases, [script.product], timedelta(seconds=5 * (len(script.events) - 1)),
            )  # fmt: skip
            if rows[script.session_id] != want_row:
                wrong.append((script.start_step, script.events, rows[script.session_id][:4], want_row[:4]))
        assert not wrong, wrong
        expected_abandoned = {s.session_id for s in scripts if s.carts >= 3 and not s.buys}
        assert expected_abandoned, "the scripts must include abandonments"

        def abandonments() -> dict[uuid.UUID, tuple]:
            with psycopg.connect(conninfo) as conn:
                query = "SELECT session_id, cart_adds, products, cart_value FROM cart_abandonments"
                return {r[0]: r[1:] for r in conn.execute(query).fetchall()}

        # Their own topic and worker thread: they may land a moment after the sessions.
        wait_until(lambda: len(abandonments()) >= len(expected_abandoned), 30, "the abandonments",
                   lambda: f"{sorted(abandonments())} landed of {sorted(expected_abandoned)}")  # fmt: skip
        abandoned = abandonments()
        assert set(abandoned) == expected_abandoned
        for script in scripts:
            if script.session_id in expected_abandoned:
                assert abandoned[script.session_id] == (
                    script.carts,
                    [script.product],
                    script.price * script.carts,
                )
        assert [kind for kind, _ in letters] == ["contract", "contract", "malformed"], letters
        reasons = " ".join(reason for _, reason in letters)
        assert "unknown product_id 'NO-SUCH-PRODUCT'" in reasons and "in the future" in reasons

        # Funnel minutes of the scripted products: every view, cart add and purchase counted once (the
        # minutes still open when the trickle stopped are waited for).
        want = Counter()
        for script in scripts:
            for _, kind in script.events:
                if kind != "page_view":
                    want[(script.product, kind)] += 1

        def funnel() -> Counter:
            with psycopg.connect(conninfo) as conn:
                got = Counter()
                for product, views, carts, buys in conn.execute(
                    "SELECT product_id, sum(product_views), sum(cart_adds), sum(purchases) "
                    "FROM funnel_minutes WHERE product_id <> ALL(%s) GROUP BY product_id",
                    ([p.product_id for p in TRICKLE_PRODUCTS],),
                ).fetchall():
                    got.update({(product, "product_view"): views, (product, "add_to_cart"): carts,
                                (product, "purchase"): buys})  # fmt: skip
                return +got

        wait_until(lambda: funnel() == want, 30, "funnel counts", lambda: f"{funnel()} != {want}")
        assert "Traceback" not in landing.log()
    finally:
        producer.flush(10)
        for process in processes:
            process.stop_quietly()


def test_the_clock_closes_sessions_on_a_quiet_shop(
    topics: Settings, tmp_path: Path, artifacts_dir: Path
) -> None:
    """No event after the last session: the clock's wall-clock rule still closes it."""
    settings = _processor_settings(topics, tmp_path).model_copy(
        update={
            "stream_session_gap_s": 1,
            "stream_grace_s": 0,
            "stream_clock_lag_s": 2,
            "stream_clock_quiet_s": 2,
        }
    )
    log_dir = artifacts_dir / "stream-processor-quiet"
    log_dir.mkdir(parents=True, exist_ok=True)
    landing = PlatformProcess(LANDING, settings, log_dir, "landing").start()
    processor = PlatformProcess(PROCESSOR, settings, log_dir, "processor").start()
    try:
        session_id = uuid.uuid4()
        product = PRODUCTS[0]
        producer = Producer(settings.kafka_common_config())
        now = datetime.now(UTC)
        for i, kind in enumerate(["page_view", "product_view", "add_to_cart"]):
            producer.produce(TOPICS[Stream.CLICKSTREAM].name,
                             _click(session_id, kind, now + timedelta(milliseconds=100 * i),
                                    product.product_id,
                                    product.base_price), product.product_id.encode())  # fmt: skip
        assert producer.flush(10) == 0

        def closed() -> bool:
            with psycopg.connect(settings.database_conninfo) as conn:
                return conn.execute(
                    "SELECT events FROM shopper_sessions WHERE session_id = %s", (session_id,)
                ).fetchone() == (3,)

        wait_until(closed, 60, "the quiet session to close", lambda: processor.log()[-3000:])
    finally:
        processor.stop_quietly()
        landing.stop_quietly()


def test_replicas_tell_the_slowest_live_replicas_time(database: str) -> None:
    """The clock replicas agree on (streaming/clock.py), against the real table."""
    with psycopg.connect(database, autocommit=True) as conn:

        def told(replica: str, own: float | None, *, holding: bool = True) -> float | None:
            return group_time(conn, "g", replica, own, live_s=300, holding=holding)

        assert told("a", 1000.0) == 1000.0
        # b has read nothing yet: it may have a backlog on its way, so nobody tells anything.
        assert told("b", None) is None
        assert told("a", 1010.0) is None
        # b catches up behind a: the slowest one's time.
        assert told("b", 900.0) == 900.0
        assert told("a", 1020.0) == 900.0
        # An idle b (no click in its first quiet period) withdraws and holds nobody back.
        assert told("b", None, holding=False) == 1020.0
        # A replica whose report is older than the live period (it died) is left out.
        told("c", 500.0)
        conn.execute("UPDATE stream_clock_progress SET reported_at = now() - interval '301 seconds' "
                     "WHERE processor_id = 'c'")  # fmt: skip
        assert told("a", 1030.0) == 1030.0
        # Another group's replicas are not ours.
        assert group_time(conn, "other", "x", 10.0, live_s=300, holding=True) == 10.0
