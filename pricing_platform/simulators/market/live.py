"""The market in real time, as `pricing-platform up` runs it: shoppers, competitors and warehouses produce
the raw streams as the clock passes, and the storefront applies the platform's price feed as it arrives.

Before the first event the storefront reads the price feed to its end, so the market starts at the prices
the platform last published (after a restart too), never at stale catalog prices.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import psycopg
from confluent_kafka import Producer
from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.core.catalog import PRODUCTS, TOPICS, WAREHOUSES, Stream
from pricing_platform.core.events import ENCODER
from pricing_platform.core.settings import Settings
from pricing_platform.simulators.market.shop import Market, MarketConfig
from pricing_platform.simulators.market.truth import write_truth
from pricing_platform.simulators.run import Deliveries, Status, StopFlag, producer_config, stop_on_signals
from pricing_platform.simulators.storefront import AppliedPrice, Storefront

log = logging.getLogger(__name__)

TICK_S: Final = 0.1  # events are produced in steps of this much real time


def run_live_market(
    settings: Settings,
    *,
    seed: int,
    sessions_per_day: float,
    truth_file: Path | None = None,
    delivered_log: Path | None = None,
    progress: bool = True,
) -> dict[Stream, int]:
    """Run until SIGINT/SIGTERM; returns the events the broker acknowledged per stream."""
    config = MarketConfig(
        sessions_per_day=sessions_per_day, scrapes_per_hour=settings.market_scrapes_per_hour
    )
    market = Market(seed, datetime.now(UTC), config)
    if truth_file is not None:
        write_truth(market, truth_file)
        log.info("market truth written to %s", truth_file)
    pending: list[AppliedPrice] = []
    storefront = Storefront(settings, pending.append, client_id="pricing-storefront")
    recovered = storefront.catch_up()
    _apply(market, pending)
    log.info("storefront caught up with the price feed: %s price(s) recovered", recovered)

    streams = list(Stream)
    deliveries = Deliveries(streams)
    sent = dict.fromkeys(streams, 0)
    producer = Producer({**producer_config(settings), "client.id": "pricing-market"})
    topics = {s: TOPICS[s].name for s in streams}
    callbacks = {s: deliveries.callback(s) for s in streams}
    stop = StopFlag()
    with stop_on_signals(stop), Status(streams, sent, deliveries, progress) as status:
        try:
            # A failed delivery ends the run (after the flush): the process manager starts a fresh
            # producer, which is what an idempotent producer needs after its broker lost its state.
            while not stop.requested and not deliveries.failures:
                started = time.monotonic()
                storefront.poll(0)
                _apply(market, pending)
                _produce(producer, market.advance(datetime.now(UTC)), topics, callbacks, sent)
                producer.poll(0)
                deliveries.publish_metrics()
                status.update(time.monotonic())
                time.sleep(max(0.0, TICK_S - (time.monotonic() - started)))
        finally:
            status.phase = "flushing"
            try:
                producer.flush(10)
            except Exception as exc:  # a fatal producer error (e.g. idempotence state lost by the broker)
                # confluent-kafka surfaces it from flush as KafkaException (or a SystemError wrapping it);
                # what was acknowledged before it must still be recorded below.
                log.error("the market's producer failed while flushing: %s", exc)
            deliveries.publish_metrics()
            # Recorded before the storefront's consumer closes: a close that waits on a lost broker
            # must not cost the record of what was acknowledged.
            # In doubt: every event sent but not acknowledged, failed or still unanswered when the flush
            # gave up (a slow broker may store those after all).
            if delivered_log is not None:
                unacknowledged = {s: sent[s] - deliveries.delivered[s] for s in streams}
                record_delivered(delivered_log, seed, deliveries.delivered, unacknowledged)
            storefront.close()
    if deliveries.failures:
        raise RuntimeError(
            f"{deliveries.failures:,} market event(s) failed delivery: {deliveries.first_error}"
        )
    return dict(deliveries.delivered)


def _apply(market: Market, pending: list[AppliedPrice]) -> None:
    for applied in pending:
        market.set_price(applied.product_id, applied.price)
    pending.clear()


def _produce(
    producer: Producer,
    events: Sequence[tuple[Stream, bytes, object]],
    topics: dict[Stream, str],
    callbacks: dict[Stream, object],
    sent: dict[Stream, int],
) -> None:
    encode = ENCODER.encode
    for stream, key, event in events:
        value = encode(event)
        while True:
            try:
                producer.produce(topics[stream], value=value, key=key, on_delivery=callbacks[stream])
                break
            except BufferError:
                producer.poll(0.05)
        sent[stream] += 1


def record_delivered(
    path: Path, seed: int, delivered: dict[Stream, int], in_doubt: dict[Stream, int] | None = None
) -> None:
    """Append this run's acknowledged events per stream (a soak adds them up across restarts), and those
    `in_doubt`: sent but not acknowledged, since the broker may have stored one whose ack was lost."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line: dict[str, object] = {
        "at": datetime.now(UTC).isoformat(),
        "seed": seed,
        **{s.value: n for s, n in delivered.items()},
        "in_doubt": {s.value: n for s, n in (in_doubt or {}).items()},
    }
    with path.open("a") as handle:
        handle.write(json.dumps(line) + "\n")


# The event tables each stream lands in; inventory_events also holds one opening balance per stock slot,
# which is not an event.
_LANDED_IN: Final = {
    Stream.CLICKSTREAM: tables.CLICKSTREAM_EVENTS,
    Stream.INVENTORY: tables.INVENTORY_EVENTS,
    Stream.COMPETITOR: tables.COMPETITOR_PRICES,
}
OPENING_BALANCES: Final = len(PRODUCTS) * len(WAREHOUSES)


def read_landed(conninfo: str) -> dict[str, int]:
    """Per stream, the events landed plus those dead-lettered: what `read_delivered` is compared with."""
    with psycopg.connect(conninfo) as conn:
        letters = dict(
            conn.execute(
                sql.SQL("SELECT topic, count(*) FROM {} GROUP BY topic").format(
                    sql.Identifier(tables.DEAD_LETTERS)
                )
            ).fetchall()
        )
        landed = {}
        for stream, table in _LANDED_IN.items():
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
            rows = (row[0] if row else 0) - (OPENING_BALANCES if stream is Stream.INVENTORY else 0)
            landed[stream.value] = rows + letters.get(TOPICS[stream].name, 0)
    return landed


def read_delivered(path: Path, key: str | None = None) -> dict[str, int]:
    """The runs' records summed per stream: events acknowledged, or with `key="in_doubt"` those whose
    delivery failed (the broker may hold some)."""
    totals = {stream.value: 0 for stream in Stream}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        counts = record.get(key, {}) if key else record
        for stream in totals:
            totals[stream] += counts.get(stream, 0)
    return totals
