"""The decisions that make alerts worth trusting, without a database or a webhook: when an open alert
clears (hysteresis), when a price move is news again, and which webhook messages an evaluation posts
(the first run's summary, the daily cap, the low-severity digest)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

Direction = Literal["up", "down", "both"]
MessageKind = Literal["alert", "resolved", "summary", "digest", "cap_reached"]

# Low severity: collected into one digest per kind instead of a message each.
DIGEST_SEVERITIES: Final = frozenset({"info"})


def clears_now(missed_before: int, clear_after: int) -> bool:
    """An open alert whose condition was not seen this evaluation clears once `clear_after` consecutive
    evaluations have missed it (`missed_before` is the count before this one)."""
    return missed_before + 1 >= clear_after


def price_move_pct(reference: float, price: float) -> float:
    return (price - reference) / reference * 100


def moved(reference: float, price: float, direction: Direction, min_pct: float) -> bool:
    """Whether `price` is at least `min_pct` % away from `reference` in a watched direction (an unchanged
    price never is)."""
    if reference <= 0:
        return False
    change = price_move_pct(reference, price)
    if direction == "up":
        return change >= min_pct
    if direction == "down":
        return -change >= min_pct
    return abs(change) >= min_pct


def digest_due(last_digest_at: datetime | None, now: datetime, interval_s: int) -> bool:
    return last_digest_at is None or now - last_digest_at >= timedelta(seconds=interval_s)


@dataclass(frozen=True)
class Pending:
    """A stored alert waiting to be announced: open and never announced (or news again), or cleared after
    it was announced (its "resolved")."""

    alert_id: int
    severity: str
    resolved: bool


@dataclass(frozen=True)
class Message:
    kind: MessageKind
    alert_ids: tuple[int, ...]


@dataclass(frozen=True)
class Plan:
    messages: list[Message]
    # Held back by the daily cap (announced on a later day if still pending then).
    held: tuple[int, ...] = ()


def plan_messages(
    pending: Sequence[Pending],
    *,
    summary_due: bool,
    digest_due: bool,
    sent_today: int,
    daily_cap: int,
    cap_notice_sent: bool,
    max_posts: int,
) -> Plan:
    """The webhook messages of one evaluation, in posting order.

    - First run (`summary_due`): one summary of every open alert pending, whatever its severity.
    - Otherwise one message per alert above low severity (open ones and resolutions, in `pending`'s
      order), then one digest of the low-severity ones when it is due (else they wait for it).
    - At most `daily_cap - sent_today` of them, and `max_posts` per evaluation (the rest go next time);
      when the cap holds messages back, one notice says so, once per day (the notice is not counted).
    """
    messages: list[Message]
    if summary_due:
        opened = tuple(p.alert_id for p in pending if not p.resolved)
        messages = [Message("summary", opened)] if opened else []
    else:
        messages = [
            Message("resolved" if p.resolved else "alert", (p.alert_id,))
            for p in pending
            if p.severity not in DIGEST_SEVERITIES
        ]
        low = tuple(p.alert_id for p in pending if p.severity in DIGEST_SEVERITIES)
        if low and digest_due:
            messages.append(Message("digest", low))

    allowed = max(daily_cap - sent_today, 0)
    over_cap = messages[allowed:]
    messages = messages[: min(allowed, max_posts)]
    held = tuple(alert_id for message in over_cap for alert_id in message.alert_ids)
    if held and not cap_notice_sent:
        messages.append(Message("cap_reached", held))
    return Plan(messages, held)
