"""The simulated shop's storefront applies the platform's outbound price feed (`pricing.price_changes`), as
a real shop system would: from then on the market shows the new price in product views, charges it at
checkout and exposes it to the competitors' scrapers.

It never reads the platform's tables. On start it reads the whole topic from its beginning (changes and
the relays' periodic snapshots) and only then reports itself caught up, so the current prices are
recovered from the feed alone; afterwards it keeps consuming. A message is applied only when its version
is above the version held for the product, which drops duplicates (a relay republishing after a crash)
and stale snapshots; a malformed message, an unknown product or a broken rule is refused with a logged
reason and never applied. Every applied price is exported as metrics, so latency is measured to the
storefront, not to the next event that happens to mention the product.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import msgspec
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from pricing_platform.core.catalog import PRICE_CHANGES_TOPIC, PRODUCTS
from pricing_platform.core.events import (
    PRICE_FEED_DECODER,
    PriceChangeEvent,
    PriceSnapshotEvent,
    price_feed_violation,
)
from pricing_platform.core.settings import Settings
from pricing_platform.simulators.metrics import (
    STOREFRONT_APPLIED_AT,
    STOREFRONT_PRICE,
    STOREFRONT_PRICE_VERSION,
    STOREFRONT_REFUSED,
)

log = logging.getLogger(__name__)

KNOWN_PRODUCTS: Final = frozenset(p.product_id for p in PRODUCTS)


@dataclass(frozen=True)
class AppliedPrice:
    product_id: str
    price: Decimal
    version: int
    change_id: uuid.UUID | None  # None for a snapshot


class Storefront:
    def __init__(self, settings: Settings, apply: Callable[[AppliedPrice], None], client_id: str) -> None:
        self._apply = apply
        self.versions: dict[str, int] = {}
        self.refused = 0
        self._consumer = Consumer(
            {
                **settings.kafka_common_config(),
                "client.id": client_id,
                # No group: the storefront reads every partition itself and keeps no committed position.
                "group.id": f"{client_id}-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": settings.kafka_fetch_wait_max_ms,
                "enable.partition.eof": True,
            }
        )
        partitions = [
            TopicPartition(PRICE_CHANGES_TOPIC.name, p, OFFSET_BEGINNING)
            for p in range(PRICE_CHANGES_TOPIC.partitions)
        ]
        self._consumer.assign(partitions)
        self._at_end: set[int] = set()

    @property
    def caught_up(self) -> bool:
        """True once every partition has been read to its end at least once."""
        return len(self._at_end) == PRICE_CHANGES_TOPIC.partitions

    def catch_up(self, timeout_s: float = 30.0) -> int:
        """Read the feed to its end (recovering current prices); returns how many prices were applied."""
        deadline = time.monotonic() + timeout_s
        applied = 0
        while not self.caught_up:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"price feed {PRICE_CHANGES_TOPIC.name} not read to its end after {timeout_s:.0f} s"
                )
            applied += len(self.poll(0.2))
        return applied

    def poll(self, timeout_s: float = 0.0, max_messages: int = 500) -> list[AppliedPrice]:
        """Apply whatever the feed has now; returns the prices applied."""
        applied: list[AppliedPrice] = []
        for message in self._consumer.consume(max_messages, timeout_s):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._at_end.add(message.partition())
                    continue
                log.warning("price feed: %s", error.str())
                continue
            outcome = self._handle(message.value() or b"")
            if outcome is not None:
                applied.append(outcome)
        return applied

    def _handle(self, value: bytes) -> AppliedPrice | None:
        try:
            event = PRICE_FEED_DECODER.decode(value)
        except msgspec.MsgspecError as exc:
            self._refuse("malformed", f"not a price-feed message: {exc}", value)
            return None
        violation = price_feed_violation(event, KNOWN_PRODUCTS)
        if violation is not None:
            self._refuse("invalid", violation, value)
            return None
        if event.version <= self.versions.get(event.product_id, -1):
            return None  # a duplicate, or older than what the storefront shows
        if isinstance(event, PriceChangeEvent):
            applied = AppliedPrice(event.product_id, event.new_price, event.version, event.change_id)
        else:
            assert isinstance(event, PriceSnapshotEvent)
            applied = AppliedPrice(event.product_id, event.price, event.version, None)
        self.versions[event.product_id] = event.version
        self._apply(applied)
        STOREFRONT_PRICE.labels(product_id=applied.product_id).set(float(applied.price))
        STOREFRONT_PRICE_VERSION.labels(product_id=applied.product_id).set(applied.version)
        STOREFRONT_APPLIED_AT.labels(product_id=applied.product_id).set(time.time())
        return applied

    def _refuse(self, kind: str, reason: str, value: bytes) -> None:
        self.refused += 1
        STOREFRONT_REFUSED.labels(reason=kind).inc()
        log.warning("price feed message refused (%s): %s — %r", kind, reason, value[:200])

    def close(self) -> None:
        self._consumer.close()
