"""Clickstream batches as Arrow columns: decoded in bulk by pyarrow's JSON reader, validated column-wise,
encoded for PostgreSQL's binary COPY by pgpq.

Why: decoding every event into a Python object (msgspec, ~3 µs) and formatting it row by row for COPY
(psycopg, ~1.5 µs) held the GIL for most of the worker's time, starving the thread that feeds the database
and competing with PostgreSQL for the machine's cores. pyarrow parses the whole batch in C++ without the
GIL, and the checks below are vectorised.

The column-wise checks are a *fast filter*, not a second statement of the contract: a row is taken from
the Arrow columns only when it is in a canonical form whose meaning is beyond doubt (hyphenated UUIDs,
`YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]Z` timestamps, every key spelt plainly) and passes every rule. Every other
message, including each one that breaks a rule, is decoded again one by one by the contract's own msgspec
decoder and `contract_violation` (`batch.build_batch`), so a dead letter carries exactly the reason it
always did, and a valid event in an unusual spelling is stored exactly as before. A test holds the filter
to that (tests/unit/test_click_rows.py): it never accepts what the contract refuses, and where it accepts,
the values equal msgspec's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import cache
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from pricing_platform.core.events import (
    CLICK_EVENT_TYPES,
    DEVICE_TYPES,
    MAX_MONEY,
    CategoryName,
    ClickstreamEvent,
)

# Money: wide enough that any price the contract accepts is carried exactly (PostgreSQL rounds it to the
# column's numeric(10, 2) on insert, as it did with psycopg's Decimal); decimals beyond the 18th place are
# truncated, which cannot change that rounding.
PRICE: Final = pa.decimal128(38, 18)
UTC_MICROS: Final = pa.timestamp("us", tz="UTC")
# The COPY columns, in the order of ClickstreamSink.COPY (uuid columns travel as their 16 raw bytes, which
# is what uuid's binary input reads).
COPY_SCHEMA: Final = pa.schema(
    [
        ("event_id", pa.binary()),
        ("user_id", pa.string()),
        ("session_id", pa.binary()),
        ("event_type", pa.string()),
        ("product_id", pa.string()),
        ("product_name", pa.string()),
        ("product_category", pa.string()),
        ("product_price", PRICE),
        ("device_type", pa.string()),
        ("event_time", UTC_MICROS),
    ]
)
_TEXT_FIELDS: Final = ("event_id", "user_id", "session_id", "event_type", "product_id", "product_name")
_EVENT_TYPE: Final = pa.struct(
    [
        *((name, pa.string()) for name in _TEXT_FIELDS),
        ("product_category", pa.string()),
        ("product_price", PRICE),
        ("device_type", pa.string()),
        ("timestamp", pa.string()),
    ]
)
# Each message is read as the line `{"e": <the message>}`. No object can span two lines: the `}` before each
# line break is structural (a raw line break cannot sit in a string), and if it closed anything but the
# line's own top-level object, the `{` that follows would be invalid. So every line yields one top-level
# object or more (or the read fails), and when the read yields exactly one row per message, row k is
# message k.
_JSON_SCHEMA: Final = pa.schema([("e", _EVENT_TYPE)])
_PARSE: Final = pj.ParseOptions(explicit_schema=_JSON_SCHEMA, unexpected_field_behavior="error")
_PREFIX: Final = b'{"e":'
_SEPARATOR: Final = b'}\n{"e":'
_SUFFIX: Final = b"}\n"
_NULLABLE: Final = ("product_id", "product_name", "product_category", "product_price")
_NULLABLE_KEYS: Final = tuple(b'"%s":' % name.encode() for name in _NULLABLE)
_ALL_NULL: Final = b",".join(key + b"null" for key in _NULLABLE_KEYS)
_MAX_TEXT: Final = 200  # ShortText


@cache
def _values() -> dict[str, Any]:
    """Arrow constants of the contract, built on first use (building one at import would make pyarrow
    import pandas before the worker can tell it not to: see worker.run_worker)."""
    return {
        "categories": pa.array(CategoryName.__args__),  # type: ignore[attr-defined]
        "event_types": pa.array(CLICK_EVENT_TYPES),
        "devices": pa.array(DEVICE_TYPES),
        "max_price": pa.scalar(MAX_MONEY, PRICE),
        "zero_price": pa.scalar(Decimal(0), PRICE),
    }


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

# ── the rows ─────────────────────────────────────────────────────────────────────────────────────────────


class ClickRows:
    """A batch's clickstream events as one Arrow record batch in COPY_SCHEMA, in message order.

    `odd_prices`: event id (16 bytes) → a price Arrow's decimal cannot hold (NaN or ±Infinity, which the
    contract lets through only on a product-less page view); its cell is null in `batch` and the sink sets
    it after the COPY, in the same transaction, so the row ends as it always did."""

    __slots__ = ("batch", "odd_prices")

    def __init__(self, batch: pa.RecordBatch, odd_prices: dict[bytes, Decimal] | None = None) -> None:
        self.batch = batch
        self.odd_prices = odd_prices or {}

    def __len__(self) -> int:
        return self.batch.num_rows

    def __getitem__(self, index: slice) -> ClickRows:
        start, stop, step = index.indices(self.batch.num_rows)
        if step != 1:
            raise ValueError("ClickRows slices must be contiguous")
        return self._with(self.batch.slice(start, stop - start))

    def take(self, indices: Sequence[int] | np.ndarray) -> ClickRows:
        return self._with(self.batch.take(pa.array(indices, pa.int64())))

    def _with(self, batch: pa.RecordBatch) -> ClickRows:
        if not self.odd_prices:
            return ClickRows(batch)
        ids = set(batch.column("event_id").to_pylist())
        return ClickRows(batch, {k: v for k, v in self.odd_prices.items() if k in ids})

    def epoch_seconds(self, step: int) -> list[float]:
        """Event times of every `step`-th row, as Unix seconds (for latency sampling)."""
        micros = self.batch.column("event_time").cast(pa.int64()).to_numpy()
        return (micros[::step] / 1e6).tolist()

    @classmethod
    def concat_in_order(cls, parts: Sequence[tuple[ClickRows, np.ndarray]]) -> ClickRows:
        """Rows of several parts, each with the message positions of its rows, back in message order."""
        parts = [(rows, positions) for rows, positions in parts if len(rows)]
        if not parts:
            return cls(_empty_batch())
        if len(parts) == 1:
            return parts[0][0]
        table = pa.Table.from_batches([rows.batch for rows, _ in parts])
        order = np.argsort(np.concatenate([positions for _, positions in parts]), kind="stable")
        odd = {k: v for rows, _ in parts for k, v in rows.odd_prices.items()}
        return cls(table.take(pa.array(order)).combine_chunks().to_batches()[0], odd)


def _empty_batch() -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=COPY_SCHEMA)


def _copy_price(price: Decimal | None) -> Decimal | None:
    if price is None or not price.is_finite() or price.as_tuple().exponent >= -18:  # type: ignore[operator]
        return price
    return price.quantize(Decimal(1).scaleb(-18), rounding=ROUND_DOWN)


def rows_from_events(events: Sequence[ClickstreamEvent]) -> ClickRows:
    """Decoded events (msgspec structs) as rows; the path for events not taken by the fast filter."""
    if not events:
        return ClickRows(_empty_batch())
    prices = [_copy_price(e.product_price) for e in events]
    odd = {
        e.event_id.bytes: p
        for e, p in zip(events, prices, strict=True)
        if p is not None and not p.is_finite()
    }
    columns = [
        pa.array([e.event_id.bytes for e in events], pa.binary()),
        pa.array([e.user_id for e in events], pa.string()),
        pa.array([e.session_id.bytes for e in events], pa.binary()),
        pa.array([e.event_type for e in events], pa.string()),
        pa.array([e.product_id for e in events], pa.string()),
        pa.array([e.product_name for e in events], pa.string()),
        pa.array([e.product_category for e in events], pa.string()),
        pa.array([None if p is not None and not p.is_finite() else p for p in prices], PRICE),
        pa.array([e.device_type for e in events], pa.string()),
        pa.array([(e.timestamp - _EPOCH) // _MICROSECOND for e in events], pa.int64()).view(UTC_MICROS),
    ]
    return ClickRows(pa.RecordBatch.from_arrays(columns, schema=COPY_SCHEMA), odd)


# ── the fast filter ──────────────────────────────────────────────────────────────────────────────────────


def decode_canonical(
    values: Sequence[bytes], known_products: pa.Array, future_cutoff: datetime
) -> tuple[ClickRows, np.ndarray] | None:
    """Decode `values` (message payloads) in bulk. Returns the rows of the messages in canonical form that
    satisfy the contract, and a mask over `values` of which those are; every other message must go through
    the exact per-message path. None when the batch cannot be read in bulk at all (then every message must).
    """
    n = len(values)
    if n == 0:
        return None
    # `}\n{"e":` between the messages, also before the first and after the last: strip those two ends.
    joined = _SEPARATOR.join([b"", *values, b""])
    buffer = memoryview(joined)[len(_SUFFIX) : len(joined) - len(_PREFIX)]
    # Belt and braces: the argument above needs no line structure (one block is parsed as a stream of
    # objects), but a message with a line break of its own is not canonical either.
    if joined.count(b"\n") != n + 1:
        return None
    try:
        # One block, one thread: the batch is parsed in C++ without the GIL while this process's other
        # thread feeds PostgreSQL; a second parsing thread would only compete with the database for a core.
        table = pj.read_json(
            pa.py_buffer(buffer),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(buffer) + 1),
            parse_options=_PARSE,
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if table.num_rows != n:
        return None
    event = table.column("e").combine_chunks()
    fields = dict(zip(_EVENT_TYPE.names, event.flatten(), strict=True))

    event_id, ok = _uuid_bytes(fields["event_id"])
    session_id, session_ok = _uuid_bytes(fields["session_id"])
    ok &= session_ok
    micros, time_ok = _utc_micros(fields["timestamp"])
    ok &= time_ok & (micros <= (future_cutoff - _EPOCH) // _MICROSECOND)
    ok &= _mask(pc.is_in(fields["event_type"], _values()["event_types"]))
    ok &= _mask(pc.is_in(fields["device_type"], _values()["devices"]))
    ok &= _short_text(fields["user_id"], nullable=False)
    ok &= _short_text(fields["product_id"], nullable=True)
    ok &= _short_text(fields["product_name"], nullable=True)
    category = fields["product_category"]
    ok &= _mask(pc.or_kleene(pc.is_null(category), pc.is_in(category, _values()["categories"])))
    ok &= _keys_present(values, fields)
    ok &= _click_rules(fields, known_products)

    if ok.all():  # the usual case: nothing to leave out
        pick: Callable[[pa.Array], pa.Array] = lambda column: column  # noqa: E731
        chosen = slice(None)
    else:
        chosen = np.flatnonzero(ok)
        pick = lambda column: column.take(chosen)  # noqa: E731
    columns = [
        _binary16(event_id[chosen]),
        pick(fields["user_id"]),
        _binary16(session_id[chosen]),
        pick(fields["event_type"]),
        pick(fields["product_id"]),
        pick(fields["product_name"]),
        pick(category),
        pick(fields["product_price"]),
        pick(fields["device_type"]),
        pa.array(micros[chosen], pa.int64()).view(UTC_MICROS),
    ]
    return ClickRows(pa.RecordBatch.from_arrays(columns, schema=COPY_SCHEMA)), ok


def _mask(result: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean result as a numpy mask, null counting as False."""
    return pc.fill_null(result, False).to_numpy(zero_copy_only=False)


def _short_text(column: pa.Array, *, nullable: bool) -> np.ndarray:
    length = pc.utf8_length(column)
    fits = pc.and_(pc.greater_equal(length, 1), pc.less_equal(length, _MAX_TEXT))
    return _mask(pc.or_kleene(pc.is_null(column), fits) if nullable else fits)


def _click_rules(fields: dict[str, pa.Array], known_products: pa.Array) -> np.ndarray:
    """`events._click_violation` for the rows it lets through, column-wise."""
    product = fields["product_id"]
    price = fields["product_price"]
    page_view = pc.equal(fields["event_type"], "page_view")
    no_product = pc.is_null(product)
    priced = pc.and_(pc.greater(price, _values()["zero_price"]), pc.less_equal(price, _values()["max_price"]))
    with_product = pc.and_(
        pc.is_in(product, known_products),
        pc.if_else(page_view, pc.is_null(price), priced),
    )
    return _mask(pc.if_else(no_product, page_view, with_product))


def _keys_present(values: Sequence[bytes], fields: dict[str, pa.Array]) -> np.ndarray:
    """A null may be an explicit `null` or a missing key, which the contract refuses: where a nullable
    field is null, its key must be spelt in the message as `"name":`. That text proves the key: its
    first quote cannot sit inside a string (the closing quote would end that string right after `name`,
    making a key the reader would have refused), so it opens the key itself."""
    nulls = np.stack([_mask(pc.is_null(fields[name])) for name in _NULLABLE], axis=1)
    ok = np.ones(len(values), dtype=bool)
    rows = np.flatnonzero(nulls.any(axis=1))
    if not len(rows):
        return ok
    # A product-less page view as the contract's encoder writes it holds the four keys in one run: one
    # search over those messages, in C, then key by key for the rest.
    payloads = pa.array([values[row] for row in rows.tolist()], pa.binary())
    spelt = _mask(pc.match_substring(payloads, _ALL_NULL.decode()))
    for row, missing in zip(rows[~spelt].tolist(), nulls[rows[~spelt]].tolist(), strict=True):
        value = values[row]
        ok[row] = all(key in value for key, is_null in zip(_NULLABLE_KEYS, missing, strict=True) if is_null)
    return ok


_HEX: Final = np.full(256, 255, dtype=np.uint8)
for _digit, _char in enumerate(b"0123456789abcdef"):
    _HEX[_char] = _digit
for _digit, _char in enumerate(b"ABCDEF", start=10):
    _HEX[_char] = _digit
_UUID_HYPHENS: Final = np.array([8, 13, 18, 23])
_UUID_HEX: Final = np.setdiff1d(np.arange(36), _UUID_HYPHENS)


def _fixed_width(
    column: pa.Array, width: int, lengths: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The bytes of the `width`-byte values of a string column as an n × width matrix (other rows zero),
    and the mask of rows that had exactly that width (`lengths`: the byte lengths, when known already)."""
    n = len(column)
    fits = (_byte_lengths(column) if lengths is None else lengths) == width
    _, offsets_buffer, data_buffer = column.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32)[column.offset : column.offset + n + 1]
    data = np.frombuffer(data_buffer, np.uint8)
    if n and fits.all():  # the usual case: the values lie back to back, a view does
        return data[offsets[0] : offsets[0] + n * width].reshape(n, width), fits
    chars = np.zeros((n, width), dtype=np.uint8)
    rows = np.flatnonzero(fits)
    if len(rows):
        chars[rows] = data[offsets[rows][:, None] + np.arange(width)]
    return chars, fits


def _byte_lengths(column: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.binary_length(column), -1).to_numpy()


def _uuid_bytes(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Hyphenated UUID text (either case) → n × 16 bytes, and the mask of rows in that form."""
    chars, ok = _fixed_width(column, 36)
    ok &= (chars[:, _UUID_HYPHENS] == ord("-")).all(axis=1)
    nibbles = _HEX[chars[:, _UUID_HEX]]
    ok &= (nibbles != 255).all(axis=1)
    return (nibbles[:, 0::2] << 4) | nibbles[:, 1::2], ok


def _binary16(matrix: np.ndarray) -> pa.Array:
    n = len(matrix)
    offsets = np.arange(0, 16 * (n + 1), 16, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(matrix))]
    )


# `YYYY-MM-DDTHH:MM:SS` then `Z`, `.fffZ` or `.ffffffZ`: what msgspec, JavaScript and most encoders write.
_DATE_DIGITS: Final = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_SEPARATORS: Final = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":"}
_DAYS_IN_MONTH: Final = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _utc_micros(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    n = len(column)
    micros = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    lengths = _byte_lengths(column)
    for width, fraction in ((27, 6), (20, 0), (24, 3)):
        chars, fits = _fixed_width(column, width, lengths)
        rows = np.flatnonzero(fits)
        if not len(rows):
            continue
        chars = chars[rows]
        good = chars[:, -1] == ord("Z")
        for position, separator in _SEPARATORS.items():
            good &= chars[:, position] == ord(separator)
        digit_positions = _DATE_DIGITS
        if fraction:
            good &= chars[:, 19] == ord(".")
            digit_positions = np.concatenate([_DATE_DIGITS, np.arange(20, 20 + fraction)])
        digits = chars[:, digit_positions].astype(np.int64) - ord("0")
        good &= ((digits >= 0) & (digits <= 9)).all(axis=1)
        digits = np.where(good[:, None], digits, 0)
        year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
        month = digits[:, 4] * 10 + digits[:, 5]
        day = digits[:, 6] * 10 + digits[:, 7]
        hour = digits[:, 8] * 10 + digits[:, 9]
        minute = digits[:, 10] * 10 + digits[:, 11]
        second = digits[:, 12] * 10 + digits[:, 13]
        sub = np.zeros(len(rows), dtype=np.int64)
        for k in range(fraction):
            sub = sub * 10 + digits[:, 14 + k]
        sub *= 10 ** (6 - fraction)
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        month_days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
        good &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
        good &= (hour <= 23) & (minute <= 59) & (second <= 59)
        seconds = _days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        micros[rows] = np.where(good, seconds * 1_000_000 + sub, 0)
        ok[rows] = good
    return micros, ok


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm), vectorised."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468
