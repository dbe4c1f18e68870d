"""The price-feed relay: publishes the outbox to `pricing.price_changes`, in order per product, at least
once, and marks what the broker acknowledged.

- **Lanes.** Each outbox row carries its product's lane (a hash of the product id, migration 0007). A
  relay holds lanes with session-level advisory locks, so each product's changes are published by one
  relay at a time and in outbox order. Relays heartbeat in `price_feed_relays` and keep their fair share
  of the lanes (ceil(lanes / live relays)): a second relay takes half the lanes within a few heartbeats,
  and a relay that dies releases its locks with its session.
- **At least once, never out of order.** Rows are produced with an idempotent producer and marked
  published only once acknowledged; for each product only the acknowledged prefix is marked, so a failed
  message and everything after it are published again. A crash between acknowledgement and marking
  publishes a row twice; both copies carry the same `change_id` and `version`, and consumers drop the
  second.
- **Snapshots.** Every `PRICE_FEED_SNAPSHOT_INTERVAL_S` a relay publishes the current price and version of
  every product in its lanes, after publishing those lanes' outbox rows: the current price stays
  recoverable from the topic however short its retention.
- **Broker outages.** The local broker (Tansu on s3rver) can acknowledge a retried message it never stored
  when it restarts in the middle of a write (seen: one change in a restart missing from the feed, its
  retry acknowledged as a duplicate). After an outage the relay publishes again what it marked from
  `REPLAY_MARGIN_S` before it: consumers drop the copies by version and the feed holds every change. On
  Apache Kafka it only costs a few duplicates per outage.
- **Latency.** `apply_price_change` notifies the relays (`LISTEN price_change_outbox`): a change is
  published within milliseconds; without a notification the relay still polls every
  `PRICE_FEED_POLL_INTERVAL_S`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg
from confluent_kafka import KafkaError, Producer
from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.core.catalog import PRICE_CHANGES_TOPIC
from pricing_platform.core.database import known_product_ids
from pricing_platform.core.events import (
    ENCODER,
    PRICE_FEED_DECODER,
    PriceChangeEvent,
    PriceSnapshotEvent,
    price_feed_violation,
)
from pricing_platform.core.settings import Settings
from pricing_platform.pricefeed import metrics

log = logging.getLogger(__name__)

LANES: Final = 16  # the outbox's lanes: migration 0007 hashes product ids into this many
# Advisory-lock namespace of the lanes (first key of pg_try_advisory_lock(int, int)): "pf".
LOCK_NAMESPACE: Final = 0x7066
BATCH: Final = 500
HEARTBEAT_S: Final = 2.0
RELAY_TIMEOUT_S: Final = 3 * HEARTBEAT_S
# How far before a broker outage's first error acknowledged changes are published again (module docstring).
REPLAY_MARGIN_S: Final = 5.0

_PENDING_SQL = sql.SQL(
    "SELECT outbox_id, product_id, payload::text FROM {outbox} "
    "WHERE published_at IS NULL AND lane = ANY(%s) ORDER BY outbox_id LIMIT %s"
).format(outbox=sql.Identifier(tables.PRICE_CHANGE_OUTBOX))
_MARK_SQL = sql.SQL("UPDATE {outbox} SET published_at = now() WHERE outbox_id = ANY(%s)").format(
    outbox=sql.Identifier(tables.PRICE_CHANGE_OUTBOX)
)
_REPLAY_SQL = sql.SQL(
    "UPDATE {outbox} SET published_at = NULL "
    "WHERE lane = ANY(%s) AND published_at >= %s AND refused_reason IS NULL"
).format(outbox=sql.Identifier(tables.PRICE_CHANGE_OUTBOX))
_REFUSE_SQL = sql.SQL(
    "UPDATE {outbox} SET published_at = now(), refused_reason = %s WHERE outbox_id = %s"
).format(outbox=sql.Identifier(tables.PRICE_CHANGE_OUTBOX))
_BACKLOG_SQL = sql.SQL(
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM {outbox} "
    "WHERE published_at IS NULL"
).format(outbox=sql.Identifier(tables.PRICE_CHANGE_OUTBOX))
# A product with a change still unpublished is left out: its snapshot would overtake the change messages
# (the storefront would jump to the newest version and drop the ones between as outdated).
_SNAPSHOT_SQL = sql.SQL(
    "SELECT p.product_id, p.current_price, p.price_version, now() FROM {products} p "
    "WHERE abs(hashtext(p.product_id)) %% {lanes} = ANY(%s) "
    "  AND NOT EXISTS (SELECT 1 FROM {outbox} o "
    "                  WHERE o.product_id = p.product_id AND o.published_at IS NULL) "
    "ORDER BY p.product_id"
).format(
    products=sql.Identifier(tables.PRODUCTS),
    outbox=sql.Identifier(tables.PRICE_CHANGE_OUTBOX),
    lanes=sql.Literal(LANES),
)
_HEARTBEAT_SQL = sql.SQL(
    "INSERT INTO {relays} (relay_id, seen_at) VALUES (%s, now()) "
    "ON CONFLICT (relay_id) DO UPDATE SET seen_at = now()"
).format(relays=sql.Identifier(tables.PRICE_FEED_RELAYS))
_LIVE_SQL = sql.SQL("SELECT count(*) FROM {relays} WHERE seen_at > now() - make_interval(secs => %s)").format(
    relays=sql.Identifier(tables.PRICE_FEED_RELAYS)
)
_LEAVE_SQL = sql.SQL("DELETE FROM {relays} WHERE relay_id = %s").format(
    relays=sql.Identifier(tables.PRICE_FEED_RELAYS)
)


def producer_config(settings: Settings, relay_id: str) -> dict[str, Any]:
    return {
        **settings.kafka_common_config(),
        "client.id": f"pricing-relay-{relay_id}",
        # Idempotence with acks=all: retries neither duplicate nor reorder a product's messages.
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "max.in.flight.requests.per.connection": settings.kafka_producer_max_in_flight,
    }


@dataclass
class PassResult:
    published: int = 0
    refused: int = 0
    failed: int = 0


class Relay:
    def __init__(self, settings: Settings, relay_id: str) -> None:
        self.settings = settings
        self.relay_id = relay_id
        self.conn = self._connect()
        self._listening = False
        self.producer = Producer({**producer_config(settings, relay_id), "error_cb": self._on_client_error})
        self.held: set[int] = set()
        self._known = known_product_ids(self.conn)
        # Due at once: a relay's first pass snapshots its lanes (monotonic time starts at boot, not 0).
        self._last_snapshot = -math.inf
        self._last_heartbeat = 0.0
        self._replay_from: datetime | None = None  # set by a broker outage

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(
            self.settings.database_conninfo,
            autocommit=True,
            application_name=self.relay_id,
            connect_timeout=5,
        )

    # --- lanes ---------------------------------------------------------------------------------------

    def rebalance(self) -> None:
        """Heartbeat, then hold this relay's fair share of the lanes: release extras, take free ones."""
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_S:
            self.conn.execute(_HEARTBEAT_SQL, (self.relay_id,))
            self._last_heartbeat = now
        live = max(1, self.conn.execute(_LIVE_SQL, (RELAY_TIMEOUT_S,)).fetchone()[0])  # type: ignore[index]
        fair = math.ceil(LANES / live)
        for lane in sorted(self.held, reverse=True)[: max(0, len(self.held) - fair)]:
            self.conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, lane))
            self.held.discard(lane)
        for lane in range(LANES):
            if len(self.held) >= fair:
                break
            if lane in self.held:
                continue
            got = self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, lane)).fetchone()
            if got and got[0]:
                self.held.add(lane)
        metrics.LANES_HELD.set(len(self.held))

    # --- publishing ------------------------------------------------------------------------------------

    def publish_pending(self) -> PassResult:
        """Publish the held lanes' unpublished rows (up to a batch) and mark the acknowledged ones."""
        result = PassResult()
        if not self.held:
            return result
        rows = self.conn.execute(_PENDING_SQL, (sorted(self.held), BATCH)).fetchall()
        sent: list[tuple[int, str]] = []
        outcomes: dict[int, KafkaError | None] = {}
        for outbox_id, product_id, payload in rows:
            reason = self._violation(payload)
            if reason is not None:
                log.error("%s: outbox row %s refused: %s", self.relay_id, outbox_id, reason)
                self.conn.execute(_REFUSE_SQL, (reason, outbox_id))
                metrics.REFUSED.inc()
                result.refused += 1
                continue
            self._produce(
                product_id, payload.encode(), lambda err, _m, i=outbox_id: outcomes.update({i: err})
            )
            sent.append((outbox_id, product_id))
        if not sent:
            return result
        self.producer.flush(30)
        acknowledged = acknowledged_prefix(sent, outcomes)
        if acknowledged:
            self.conn.execute(_MARK_SQL, (acknowledged,))
            metrics.PUBLISHED.labels(kind="change").inc(len(acknowledged))
            metrics.LAST_PUBLISH.set(time.time())
        result.published = len(acknowledged)
        result.failed = len(sent) - len(acknowledged)
        if result.failed:
            metrics.DELIVERY_FAILURES.inc(result.failed)
            first = next((e for e in outcomes.values() if e is not None), None)
            log.warning("%s: %s message(s) not acknowledged, republished next pass: %s",
                        self.relay_id, result.failed, first)  # fmt: skip
        return result

    def replay(self, since: datetime) -> int:
        """Mark the held lanes' changes acknowledged since `since` unpublished, so they go out again in
        order; how many."""
        replayed = self.conn.execute(_REPLAY_SQL, (sorted(self.held), since)).rowcount
        if replayed:
            metrics.REPLAYED.inc(replayed)
            log.warning("%s: publishing %s change(s) again after a broker outage", self.relay_id, replayed)
        return replayed

    def publish_snapshots(self) -> int:
        """The current price and version of every product in the held lanes."""
        if not self.held:
            return 0
        rows = self.conn.execute(_SNAPSHOT_SQL, (sorted(self.held),)).fetchall()
        failures: list[KafkaError] = []
        for product_id, price, version, as_of in rows:
            snapshot = PriceSnapshotEvent(product_id=product_id, price=price, version=version, as_of=as_of)
            self._produce(
                product_id, ENCODER.encode(snapshot), lambda err, _m: failures.append(err) if err else None
            )
        self.producer.flush(30)
        if failures:
            self._last_snapshot = -math.inf  # due again on the next pass
            metrics.DELIVERY_FAILURES.inc(len(failures))
            log.warning("%s: snapshot incomplete (%s failed): %s", self.relay_id, len(failures), failures[0])
        metrics.PUBLISHED.labels(kind="snapshot").inc(len(rows) - len(failures))
        return len(rows) - len(failures)

    def report_backlog(self) -> tuple[int, float]:
        count, age = self.conn.execute(_BACKLOG_SQL).fetchone()  # type: ignore[misc]
        metrics.UNSENT.set(count)
        metrics.OLDEST_UNSENT_AGE.set(float(age))
        return int(count), float(age)

    def _produce(self, key: str, value: bytes, on_delivery: Any) -> None:
        while True:
            try:
                self.producer.produce(PRICE_CHANGES_TOPIC.name, key=key, value=value, on_delivery=on_delivery)
                return
            except BufferError:
                self.producer.poll(0.05)

    def _violation(self, payload: str) -> str | None:
        try:
            event = PRICE_FEED_DECODER.decode(payload)
        except Exception as exc:
            return f"not a valid price-feed message: {exc}"
        if not isinstance(event, PriceChangeEvent):
            return "an outbox row must be a price_change"
        if event.product_id not in self._known:
            self._known = known_product_ids(self.conn)  # a product added since the relay started
        return price_feed_violation(event, self._known)

    # --- the loop --------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        log.info("%s: relaying the outbox to %s", self.relay_id, PRICE_CHANGES_TOPIC.name)
        backoff = 0.5
        try:
            while not stop.is_set():
                try:
                    self._pass()
                    backoff = 0.5
                except psycopg.OperationalError as exc:
                    # PostgreSQL restarting or unreachable: the session (and its lanes) is gone; whatever
                    # was published but not marked is published again after reconnecting.
                    cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    log.warning(
                        "%s: database unreachable (%s), retrying in %.1f s", self.relay_id, cause, backoff
                    )
                    self.held.clear()
                    stop.wait(backoff)
                    backoff = min(backoff * 2, self.settings.ingest_db_retry_max_s)
                    self._reconnect()
        finally:
            self.close()

    def _pass(self) -> None:
        if not self._listening:
            self.conn.execute("LISTEN price_change_outbox")
            self._listening = True
        self.rebalance()
        if self._replay_from is not None and self.held:  # lanes lost with the database wait for it
            self.replay(self._replay_from)
            self._replay_from = None
        while self.publish_pending().published == BATCH:
            pass  # a backlog: keep going before waiting
        if time.monotonic() - self._last_snapshot >= self.settings.price_feed_snapshot_interval_s:
            self._last_snapshot = time.monotonic()  # set first: the broker going down meanwhile re-arms it
            self.publish_snapshots()
        self.report_backlog()
        # Wake on a notification, or poll.
        for _ in self.conn.notifies(timeout=self.settings.price_feed_poll_interval_s, stop_after=1):
            pass

    def _on_client_error(self, error: KafkaError) -> None:
        # A broker that went down can lose the last messages it acknowledged (measured on the local
        # broker: README, "A local stack that lasts"). Once it is back, a snapshot puts every current price
        # on the feed again, so storefronts converge whatever was lost.
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            if math.isfinite(self._last_snapshot):
                log.warning("%s: broker down (%s): a snapshot follows", self.relay_id, error.str())
            self._last_snapshot = -math.inf
            if self._replay_from is None:
                self._replay_from = datetime.now(UTC) - timedelta(seconds=REPLAY_MARGIN_S)

    def _reconnect(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()
        try:
            self.conn = self._connect()
            self._listening = False
            self._last_heartbeat = 0.0
        except psycopg.OperationalError:
            pass  # the next pass fails again and backs off further

    def close(self) -> None:
        self.producer.flush(10)
        try:
            self.conn.execute(_LEAVE_SQL, (self.relay_id,))
            self.conn.close()  # releases the lanes' locks
        except psycopg.Error:
            pass


def acknowledged_prefix(sent: Sequence[tuple[int, str]], outcomes: dict[int, KafkaError | None]) -> list[int]:
    """Outbox ids safe to mark published: per product, the acknowledged messages before its first failure
    (a later message of that product is published again, after the failed one)."""
    blocked: set[str] = set()
    marked = []
    for outbox_id, product_id in sent:
        if product_id in blocked:
            continue
        if outbox_id in outcomes and outcomes[outbox_id] is None:
            marked.append(outbox_id)
        else:
            blocked.add(product_id)
    return marked
