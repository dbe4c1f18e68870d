"""The clickstream's bulk (Arrow) decoding against the contract's own per-message path: for every mix of
canonical and odd messages, the batch has the same events in the same order, the same dead letters with
the same reasons, and the same stored values."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from ingest_workers.batch import Batch, build_batch, build_click_batch
from ingest_workers.click_rows import ClickRows, decode_canonical, rows_from_events
from pricing_platform.core import catalog
from pricing_platform.core.events import DECODERS, ENCODER, ClickstreamEvent, contract_violation
from pricing_platform.simulators.clickstream import ClickstreamGenerator
from tests.support.factories import click

KNOWN = frozenset(catalog.PRODUCTS_BY_ID)
DECODE = DECODERS[ClickstreamEvent].decode


class FakeMessage:
    """The parts of confluent_kafka.Message the batch builders read."""

    def __init__(self, partition: int, offset: int, value: bytes | None) -> None:
        self._partition, self._offset, self._value = partition, offset, value

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes:
        return b"k"

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)

    def error(self) -> None:
        return None


def cutoff() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=300)


def both_ways(
    values: list[bytes | None], owned: Callable[[int], bool] = lambda p: True
) -> tuple[Batch, Batch]:
    messages = [FakeMessage(i % 3, 100 + i, v) for i, v in enumerate(values)]
    limit = cutoff()

    def violation(event: Any) -> str | None:
        reason = contract_violation(event, known_products=KNOWN, warehouses=(), competitors=())
        if reason is None and event.timestamp > limit:
            return "in the future"
        return reason

    exact = build_batch(messages, DECODE, violation, owned)  # type: ignore[arg-type]
    bulk = build_click_batch(messages, DECODE, violation, owned, KNOWN, limit)  # type: ignore[arg-type]
    return exact, bulk


def assert_same(exact: Batch, bulk: Batch) -> None:
    assert isinstance(bulk.events, ClickRows)
    expected = rows_from_events(exact.events)
    assert bulk.events.batch.equals(expected.batch)
    assert {k: str(v) for k, v in bulk.events.odd_prices.items()} == {
        k: str(v) for k, v in expected.odd_prices.items()
    }
    assert [m.offset() for m in bulk.sources] == [m.offset() for m in exact.sources]
    assert [(d.partition, d.offset, d.error_kind, d.reason, d.payload) for d in bulk.dead_letters] == [
        (d.partition, d.offset, d.error_kind, d.reason, d.payload) for d in exact.dead_letters
    ]
    assert bulk.ranges == exact.ranges


def simulated(n: int) -> list[ClickstreamEvent]:
    return [event for _, _, event in itertools.islice(ClickstreamGenerator(7), n)]


def test_simulated_events_are_all_decoded_in_bulk_with_msgspecs_values() -> None:
    events = simulated(3000)
    payloads = [ENCODER.encode(e) for e in events]
    decoded = decode_canonical(payloads, pa.array(sorted(KNOWN)), cutoff())
    assert decoded is not None
    rows, taken = decoded
    assert taken.all()
    assert rows.batch.equals(rows_from_events([DECODE(p) for p in payloads]).batch)
    assert_same(*both_ways(payloads))


def as_dict(event: ClickstreamEvent) -> dict[str, Any]:
    return json.loads(ENCODER.encode(event))


def dumps(document: Any, **kwargs: Any) -> bytes:
    return json.dumps(document, **kwargs).encode()


def mutations() -> list[Callable[[dict[str, Any]], bytes | None]]:
    """Odd, wrong and hostile spellings of a purchase (each one a message)."""

    def set_(key: str, value: Any) -> Callable[[dict[str, Any]], bytes]:
        return lambda d: dumps({**d, key: value})

    def drop(key: str) -> Callable[[dict[str, Any]], bytes]:
        return lambda d: dumps({k: v for k, v in d.items() if k != key})

    late_ts = "2026-02-03T04:05:06"
    return [
        # valid, but not in the canonical form: taken by the exact path
        set_("event_id", "01A22C14-6C77-710B-8766-9A49275AD2A1"),
        set_("event_id", "01a22c146c77710b87669a49275ad2a1"),
        set_("timestamp", late_ts + "+00:00"),
        set_("timestamp", late_ts + "+01:00"),
        set_("timestamp", late_ts + ".123456789Z"),
        set_("timestamp", late_ts.replace("T", " ") + "Z"),
        set_("timestamp", late_ts + "z"),
        set_("timestamp", late_ts + ".5Z"),
        set_("timestamp", late_ts + ".123Z"),
        set_("timestamp", late_ts + "Z"),
        set_("timestamp", "2024-02-29T23:59:59.999999Z"),
        set_("product_price", "1199.99"),
        set_("product_price", 1.255),
        set_("product_price", 12),
        set_("product_price", 1.5e2),
        set_("product_price", "0.000000000000000000001"),
        set_("user_id", "é" * 200),
        set_("user_id", "\u00e9\n\t"),
        lambda d: dumps(d, indent=1),  # line breaks inside the message
        lambda d: dumps({**d, "extra": 1}),  # unknown fields are ignored by the contract
        lambda d: dumps(d).replace(b'"product_price":', b'"product_price" :'),
        lambda d: dumps(d).replace(b'"user_id"', b'"user\\u005fid"'),
        lambda d: b"  " + dumps(d) + b"\r",
        # refused by the schema
        set_("event_id", "not-a-uuid"),
        set_("event_id", "{01a22c14-6c77-710b-8766-9a49275ad2a1}"),
        set_("event_id", 5),
        set_("timestamp", late_ts),
        set_("timestamp", "2026-02-30T04:05:06Z"),
        set_("timestamp", "2026-02-03T24:00:00Z"),
        set_("timestamp", "2026-02-03T04:05:60Z"),
        set_("timestamp", "0000-01-01T00:00:00Z"),
        set_("timestamp", "2023-02-29T00:00:00Z"),
        set_("event_type", "checkout"),
        set_("device_type", None),
        set_("product_category", "garden"),
        set_("user_id", ""),
        set_("user_id", "x" * 201),
        set_("user_id", None),
        set_("product_price", "abc"),
        set_("product_price", True),
        drop("product_id"),
        drop("product_price"),
        drop("event_id"),
        lambda d: dumps(d)[:-1],
        lambda d: dumps(d) + dumps(d),
        lambda d: dumps(d) + b"}" + dumps(d),
        lambda d: dumps([d]),
        lambda d: b"null",
        lambda d: b"",
        lambda d: None,
        lambda d: b"\xff\xfe",
        lambda d: dumps(d).replace(b'"U', b'"\\ud800'),
        lambda d: dumps(d).replace(b"{", b'{"event_id": "01a22c14-6c77-710b-8766-9a49275ad2a1",', 1),
        # refused by the contract's rules
        set_("product_id", "P999"),
        set_("product_price", None),
        set_("product_price", 0),
        set_("product_price", -5),
        set_("product_price", "100000000.00"),
        set_("product_price", "NaN"),
        set_("event_type", "page_view"),
        set_("timestamp", (datetime.now(UTC) + timedelta(hours=2)).isoformat().replace("+00:00", "Z")),
    ]


def test_every_odd_message_gets_the_exact_paths_verdict_and_the_rest_still_lands_in_bulk() -> None:
    purchase = as_dict(click("P001", "purchase"))
    page_view = as_dict(click(None, "page_view"))
    rng = random.Random(18)
    for mutate in mutations():
        for base in (purchase, page_view):
            # one odd message among canonical ones (simulated, so ids and times differ)
            values: list[bytes | None] = [ENCODER.encode(e) for e in simulated(20)]
            values.insert(rng.randrange(len(values)), mutate(dict(base)))
            assert_same(*both_ways(values))


def test_page_views_without_their_nullable_keys_are_refused_like_msgspec_refuses_them() -> None:
    page_view = as_dict(click(None, "page_view"))
    for key in ("product_id", "product_name", "product_category", "product_price"):
        values: list[bytes | None] = [ENCODER.encode(e) for e in simulated(5)]
        values.append(dumps({k: v for k, v in page_view.items() if k != key}))
        exact, bulk = both_ways(values)
        assert_same(exact, bulk)
        assert f"missing required field `{key}`" in bulk.dead_letters[-1].reason


def test_random_mixes_match_the_exact_path() -> None:
    rng = random.Random(1918)
    odd = mutations()
    bases = [as_dict(e) for e in simulated(50)]
    for _ in range(40):
        values: list[bytes | None] = [ENCODER.encode(e) for e in simulated(rng.randrange(0, 30))]
        for _ in range(rng.randrange(0, 6)):
            values.insert(rng.randrange(len(values) + 1), rng.choice(odd)(dict(rng.choice(bases))))
        assert_same(*both_ways(values, owned=lambda p: p != 2))


@pytest.mark.parametrize("price", ["1199.99", "0.01", "99999999.99", "1.255", "1e-30"])
def test_money_stays_exact(price: str) -> None:
    event = click("P001", "purchase").__replace__(product_price=Decimal(price))
    rows = rows_from_events([event])
    stored = rows.batch.column("product_price")[0].as_py()
    assert stored == Decimal(price).quantize(Decimal("1e-18"), rounding="ROUND_DOWN")
    assert pa.types.is_decimal(rows.batch.schema.field("product_price").type)


def test_slices_keep_order_and_sample_event_times() -> None:
    events = simulated(10)
    rows = rows_from_events(events)
    assert len(rows[2:5]) == 3
    assert rows[2:5].batch.equals(rows_from_events(events[2:5]).batch)
    assert rows.epoch_seconds(5) == [e.timestamp.timestamp() for e in events[::5]]
