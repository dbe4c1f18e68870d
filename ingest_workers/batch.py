"""Turns a list of Kafka messages into a batch: decoded events, dead letters and per-partition ranges."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from pricing_platform.core.events import Event


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
    events: list[Any] = field(default_factory=list)
    # the message each event came from, same order: a dead letter must carry its raw bytes and position
    sources: list[Message] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # partition → (first offset, last offset) consumed in this batch
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.events) + len(self.dead_letters)


def _message_time(message: Message) -> datetime | None:
    kind, millis = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def build_batch(
    messages: Sequence[Message],
    decode: Callable[[bytes], Event],
    violation: Callable[[Event], str | None],
    owned: Callable[[int], bool],
) -> Batch:
    """Decode and validate every message; keep only partitions this worker still owns."""
    batch = Batch()
    ranges = batch.ranges
    events = batch.events
    sources = batch.sources
    for message in messages:
        partition = message.partition()
        if not owned(partition):
            continue
        offset = message.offset()
        first_last = ranges.get(partition)
        ranges[partition] = (offset, offset) if first_last is None else (first_last[0], offset)
        value = message.value()
        try:
            if value is None:
                raise msgspec.DecodeError("message has no value (tombstone)")
            event = decode(value)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            batch.dead_letters.append(
                DeadLetter(
                    partition, offset, message.key(), value, "malformed", str(exc), _message_time(message)
                )
            )
            continue
        reason = violation(event)
        if reason is not None:
            batch.dead_letters.append(
                DeadLetter(
                    partition, offset, message.key(), value, "contract", reason, _message_time(message)
                )
            )
            continue
        events.append(event)
        sources.append(message)
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
