"""Turns a list of Kafka messages into a batch: decoded events, dead letters and per-partition ranges."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from ingest_workers.click_rows import ClickRows, decode_canonical, rows_from_events
from pricing_platform.core.events import Event, decode_or_reason


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    payload: bytes | None
    # "malformed" (not JSON / wrong types), "contract" (breaks a business rule) or "database" (valid by the
    # contract, refused by a database constraint, e.g. a value out of a column's range)
    error_kind: str
    reason: str
    message_timestamp: datetime | None


@dataclass(slots=True)
class Batch:
    # decoded events (msgspec structs), or for the clickstream `ClickRows`; same order as `sources`
    events: Any = field(default_factory=list)
    # the message each event came from, same order: a dead letter must carry its raw bytes and position
    sources: list[Message] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # partition → (first offset, last offset) consumed in this batch
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.events) + len(self.dead_letters)


_NULL = b"null"


def _message_time(message: Message) -> datetime | None:
    kind, millis = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def _decode_one(
    message: Message, decode: Callable[[bytes], Event], violation: Callable[[Event], str | None]
) -> Event | DeadLetter:
    """The contract's verdict on one message: its event, or the dead letter saying why not."""
    event = decode_or_reason(message.value(), decode)
    if isinstance(event, str):
        return dead_letter(message, "malformed", event)
    reason = violation(event)
    if reason is not None:
        return dead_letter(message, "contract", reason)
    return event


def _owned_messages(messages: Sequence[Message], owned: Callable[[int], bool], batch: Batch) -> list[Message]:
    """Messages of partitions this worker still owns; records each partition's offset range in `batch`."""
    partitions = [m.partition() for m in messages]
    owned_partitions = {p for p in set(partitions) if owned(p)}
    kept = (
        list(messages)
        if len(owned_partitions) == len(set(partitions))
        else [m for m, p in zip(messages, partitions, strict=True) if p in owned_partitions]
    )
    ranges = batch.ranges
    for message in kept:
        partition = message.partition()
        offset = message.offset()
        first_last = ranges.get(partition)
        ranges[partition] = (offset, offset) if first_last is None else (first_last[0], offset)
    return kept


def build_batch(
    messages: Sequence[Message],
    decode: Callable[[bytes], Event],
    violation: Callable[[Event], str | None],
    owned: Callable[[int], bool],
) -> Batch:
    """Decode and validate every message; keep only partitions this worker still owns."""
    batch = Batch()
    for message in _owned_messages(messages, owned, batch):
        verdict = _decode_one(message, decode, violation)
        if isinstance(verdict, DeadLetter):
            batch.dead_letters.append(verdict)
        else:
            batch.events.append(verdict)
            batch.sources.append(message)
    return batch


def build_click_batch(
    messages: Sequence[Message],
    decode: Callable[[bytes], Event],
    violation: Callable[[Event], str | None],
    owned: Callable[[int], bool],
    known_products: frozenset[str],
    future_cutoff: datetime,
) -> Batch:
    """`build_batch` for the clickstream, with the events as `ClickRows`: messages in canonical form are
    decoded and checked in bulk (click_rows), every other one exactly as `build_batch` does, one by one."""
    batch = Batch()
    kept = _owned_messages(messages, owned, batch)
    # A tombstone reads as `null`: not canonical, so the exact path dead-letters it with its usual reason.
    values = [_NULL if (value := m.value()) is None else value for m in kept]
    bulk = decode_canonical(values, pa.array(sorted(known_products), pa.string()), future_cutoff)
    if bulk is None:
        canonical, taken = rows_from_events([]), np.zeros(len(kept), dtype=bool)
    else:
        canonical, taken = bulk
    if taken.all():  # the usual case
        batch.events, batch.sources = canonical, kept
        return batch
    untaken = np.flatnonzero(~taken).tolist()
    exact = build_batch([kept[p] for p in untaken], decode, violation, lambda _: True)
    batch.dead_letters = exact.dead_letters
    position_of = {id(kept[p]): p for p in untaken}
    taken_positions = np.flatnonzero(taken)
    exact_positions = np.array([position_of[id(m)] for m in exact.sources], dtype=np.int64)
    batch.events = ClickRows.concat_in_order(
        [(canonical, taken_positions), (rows_from_events(exact.events), exact_positions)]
    )
    in_order = np.sort(np.concatenate([taken_positions, exact_positions])).tolist()
    batch.sources = [kept[position] for position in in_order]
    return batch


def dead_letter(message: Message, error_kind: str, reason: str) -> DeadLetter:
    return DeadLetter(
        message.partition(),
        message.offset(),
        message.key(),
        message.value(),
        error_kind,
        reason,
        _message_time(message),
    )
