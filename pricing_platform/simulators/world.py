"""Shared ground of the simulators: the injected clock, deterministic time-ordered event ids, and the
catalog precomputed into the shapes the generators' hot loops want.

Nothing here does I/O or touches global randomness, so a generator built from a seed and a pinned clock
replays the exact same events every time.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Final, TypeAlias, TypeVar, cast

from pricing_platform.core.catalog import COMPETITORS, PRODUCTS, WAREHOUSES, Category, Stream
from pricing_platform.core.events import (
    CategoryName,
    ClickstreamEvent,
    CompetitorPriceEvent,
    InventoryEvent,
    contract_violation,
)

Clock: TypeAlias = Callable[[], datetime]
SimEvent: TypeAlias = tuple[Stream, bytes, ClickstreamEvent | InventoryEvent | CompetitorPriceEvent]

T = TypeVar("T")

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_UUID7_VERSION_BITS: Final = 0x7 << 76
_RFC4122_VARIANT_BITS: Final = 0b10 << 62
_MAX_SEQ: Final = 0xFFF


# The production clock; a partial rather than a def saves a Python frame on every event.
utc_now: Final[Clock] = partial(datetime.now, UTC)


def stepping_clock(start: datetime, step: timedelta = timedelta(milliseconds=1)) -> Clock:
    """A clock for tests and benchmarks: returns `start`, then advances by `step` on every call."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    current = start.astimezone(UTC)

    def clock() -> datetime:
        nonlocal current
        now = current
        current = now + step
        return now

    return clock


def derive_seed(seed: int, name: str) -> int:
    """A sub-seed per generator, so adding or dropping one stream never changes another stream's events.

    sha256 rather than hash(): str hashing is salted per process (PYTHONHASHSEED), which would break
    replay across runs.
    """
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "big")


_new_uuid: Final = uuid.UUID.__new__
_set_slot: Final = object.__setattr__


def _uuid_from_int_fast(value: int) -> uuid.UUID:
    # uuid.UUID(int=...) spends most of its ~0.7 µs validating arguments we construct correctly anyway;
    # filling its two slots directly halves the cost of an id, a good share of an event's total cost.
    fast = _new_uuid(uuid.UUID)
    _set_slot(fast, "int", value)
    _set_slot(fast, "is_safe", uuid.SafeUUID.unknown)
    return fast


def _uuid_from_int_checked(value: int) -> uuid.UUID:
    return uuid.UUID(int=value)


def _fast_path_matches() -> bool:
    probe = 0x0194_1F29_7C00_74FC_ABE8_1E86_98A0_7D5C
    fast, checked = _uuid_from_int_fast(probe), _uuid_from_int_checked(probe)
    return fast == checked and str(fast) == str(checked) and hash(fast) == hash(checked)


# Should a future Python change UUID's layout, fall back to the public constructor rather than break.
uuid_from_int: Final[Callable[[int], uuid.UUID]] = (
    _uuid_from_int_fast if _fast_path_matches() else _uuid_from_int_checked
)


_UUID4_CLEAR: Final = ~((0xF << 76) | (0b11 << 62))
_UUID4_SET: Final = (0x4 << 76) | _RFC4122_VARIANT_BITS


def random_uuid4(rng: random.Random) -> uuid.UUID:
    """`uuid.UUID(int=rng.getrandbits(128), version=4)`, at half the cost."""
    return uuid_from_int((rng.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET)


class EventIds:
    """UUIDv7 ids (RFC 9562) built from the event's own timestamp and the generator's RNG.

    Time-ordered keys append to the right edge of PostgreSQL's B-tree instead of splitting random pages;
    drawing the random bits from the seeded RNG (not os.urandom, which uuid_utils uses) keeps replay exact.
    A 12-bit counter in rand_a keeps ids strictly increasing per generator even when many events share a
    millisecond or the wall clock steps backwards.

    The ids draw from their own RNG: how many bits an id consumes depends on the clock (counter or fresh
    bits), and sharing the generator's RNG would let the clock change which events are simulated.
    """

    __slots__ = ("_last_ms", "_rng", "_seq")

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._last_ms = -1
        self._seq = 0

    def at(self, timestamp: datetime) -> uuid.UUID:
        ms = (timestamp - _EPOCH) // _ONE_MS
        if ms > self._last_ms:
            # The counter starts below half its range so a burst within one ms rarely overflows it.
            self._seq = self._rng.getrandbits(11)
        else:
            ms = self._last_ms
            self._seq += 1
            if self._seq > _MAX_SEQ:
                ms += 1
                self._seq = self._rng.getrandbits(11)
        self._last_ms = ms
        value = (
            (ms << 80)
            | _UUID7_VERSION_BITS
            | (self._seq << 64)
            | _RFC4122_VARIANT_BITS
            | self._rng.getrandbits(62)
        )
        return uuid_from_int(value)


@dataclass(frozen=True, slots=True)
class ProductInfo:
    """A catalog product with everything an event needs already built, so no per-event conversions."""

    index: int
    product_id: str
    name: str
    category: CategoryName
    base_price: Decimal
    base_cents: int
    base_cents_decimal: Decimal
    key: bytes
    popularity: float
    sales_weight: float


# Relative share of shopper attention per category: phones and accessories draw the most traffic.
_CATEGORY_POPULARITY: Final[dict[Category, float]] = {
    Category.PHONES: 0.30,
    Category.LAPTOPS: 0.15,
    Category.HEADPHONES: 0.20,
    Category.TABLETS: 0.12,
    Category.ACCESSORIES: 0.23,
}


def _build_products() -> tuple[ProductInfo, ...]:
    by_category: dict[Category, list[int]] = {}
    for i, product in enumerate(PRODUCTS):
        by_category.setdefault(product.category, []).append(i)
    infos: list[ProductInfo] = []
    for i, product in enumerate(PRODUCTS):
        siblings = by_category[product.category]
        rank = siblings.index(i)
        # Within a category, attention falls off with rank (the catalog lists flagships first).
        rank_weights = [1.0 / (r + 1) ** 0.5 for r in range(len(siblings))]
        popularity = _CATEGORY_POPULARITY[product.category] * rank_weights[rank] / sum(rank_weights)
        cents = int(product.base_price * 100)
        # Cheap items sell more units per view than expensive ones.
        sales_weight = popularity * (100.0 / float(product.base_price)) ** 0.3
        infos.append(
            ProductInfo(
                index=i,
                product_id=product.product_id,
                name=product.name,
                category=cast(CategoryName, product.category.value),
                base_price=product.base_price,
                base_cents=cents,
                base_cents_decimal=Decimal(cents),
                key=product.product_id.encode(),
                popularity=popularity,
                sales_weight=sales_weight,
            )
        )
    return tuple(infos)


PRODUCT_INFOS: Final[tuple[ProductInfo, ...]] = _build_products()
PRODUCT_INDEX: Final[dict[str, int]] = {p.product_id: p.index for p in PRODUCT_INFOS}
KNOWN_PRODUCTS: Final[frozenset[str]] = frozenset(PRODUCT_INDEX)


def weighted_table(items: Sequence[T], weights: Sequence[float], size: int = 1024) -> tuple[T, ...]:
    """A lookup table where each item appears in proportion to its weight.

    `table[int(rng.random() * len(table))]` is several times cheaper than `rng.choices` per draw; the
    weights are quantised to 1/size, which no consumer of this data can tell apart. Largest-remainder
    allocation with a floor of one slot keeps every positive-weight item reachable.
    """
    if len(items) != len(weights) or not items:
        raise ValueError("items and weights must be non-empty and the same length")
    total = sum(weights)
    exact = [w / total * size for w in weights]
    slots = [max(1, int(e)) if w > 0 else 0 for e, w in zip(exact, weights, strict=True)]
    by_remainder = sorted(range(len(items)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    for i in by_remainder[: max(0, size - sum(slots))]:
        if weights[i] > 0:
            slots[i] += 1
    return tuple(item for item, n in zip(items, slots, strict=True) for _ in range(n))


def contract_violation_of(event: ClickstreamEvent | InventoryEvent | CompetitorPriceEvent) -> str | None:
    """`events.contract_violation` against this shop's catalog."""
    return contract_violation(
        event, known_products=KNOWN_PRODUCTS, warehouses=WAREHOUSES, competitors=COMPETITORS
    )
