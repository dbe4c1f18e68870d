"""Competitor moves per product × competitor: price-change velocity and undercut transitions. Pure logic:
the processor keeps one `PairState` per pair in its RocksDB state (keyed by product, as the competitor
topic is) and publishes what `observe` returns to `stream.undercuts`.

An undercut is judged against our price as the observation saw it (`our_price`: the shop's price when
the competitor was scraped), so the processor needs no database read per event. It opens when the gap
passes UNDERCUT_PCT, is published again when the competitor goes lower while it is open, and clears once
the gap narrows below UNDERCUT_CLEAR_PCT (hysteresis: a price hovering around the threshold does not
reprice the product on every scrape).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from pricing_platform.core.events import CompetitorPriceEvent, Undercut, UndercutState
from pricing_platform.streaming.windows import epoch_ms

VELOCITY_WINDOW_MS: Final = 3_600_000

# JSON only (it lives in RocksDB and the changelog): the last price as a decimal string, the event time of
# the newest observation, whether an undercut is open and the event times of the price changes within the
# velocity window.
PairState = dict[str, Any]


@dataclass(frozen=True)
class Thresholds:
    open_pct: float
    clear_pct: float


def gap_pct(event: CompetitorPriceEvent) -> Decimal:
    """How far below our price the competitor is, in % of ours (negative: above us)."""
    return ((event.our_price - event.competitor_price) / event.our_price * 100).quantize(Decimal("0.01"))


def observe(
    state: PairState | None, event: CompetitorPriceEvent, thresholds: Thresholds
) -> tuple[PairState | None, Undercut | None]:
    """The pair's next state and the undercut transition `event` makes, if any. An observation older than
    the newest one seen (late or out of order) changes nothing: it would move the pair back in time."""
    at = epoch_ms(event.timestamp)
    if state is not None and at < state["at"]:
        return None, None
    previous = Decimal(state["price"]) if state is not None else None
    changes = [t for t in (state or {}).get("changes", []) if t > at - VELOCITY_WINDOW_MS]
    if previous is not None and event.competitor_price != previous:
        changes.append(at)
    was_open = bool(state and state["open"])
    gap = gap_pct(event)
    transition: UndercutState | None = None
    if gap > Decimal(str(thresholds.open_pct)):
        if not was_open:
            transition = "opened"
        elif previous is not None and event.competitor_price < previous:
            transition = "deepened"
        now_open = True
    elif was_open and gap < Decimal(str(thresholds.clear_pct)):
        transition, now_open = "cleared", False
    else:
        now_open = was_open
    new_state: PairState = {"price": str(event.competitor_price), "at": at, "open": now_open,
                            "changes": changes}  # fmt: skip
    if transition is None:
        return new_state, None
    return new_state, Undercut(
        event_id=event.event_id,
        product_id=event.product_id,
        competitor_name=event.competitor_name,
        state=transition,
        competitor_price=event.competitor_price,
        our_price=event.our_price,
        gap_pct=gap,
        previous_price=previous,
        changes_last_hour=len(changes),
        observed_at=event.timestamp,
    )
