"""The stream processor's undercut detection run in process, for tests of what reads its output: each
observation goes through `streaming.undercuts.observe` (the processor's own code) and a transition lands in
competitor_undercuts as the repricer lands it."""

from __future__ import annotations

import psycopg

from pricing_platform.core.events import CompetitorPriceEvent
from pricing_platform.core.settings import Settings
from pricing_platform.streaming.undercuts import PairState, Thresholds, observe

_RECORD = (
    "INSERT INTO competitor_undercuts (event_id, product_id, competitor_name, state, competitor_price, "
    "our_price, gap_pct, previous_price, changes_last_hour, observed_at, outcome) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'repriced')"
)


class UndercutDetector:
    def __init__(self, settings: Settings) -> None:
        self.thresholds = Thresholds(settings.undercut_pct, settings.undercut_clear_pct)
        self.pairs: dict[tuple[str, str], PairState | None] = {}

    def feed(self, conn: psycopg.Connection, event: CompetitorPriceEvent) -> str | None:
        """The transition `event` makes (recorded), or None."""
        key = (event.product_id, event.competitor_name)
        pair, undercut = observe(self.pairs.get(key), event, self.thresholds)
        if pair is not None:
            self.pairs[key] = pair
        if undercut is None:
            return None
        conn.execute(
            _RECORD,
            (undercut.event_id, undercut.product_id, undercut.competitor_name, undercut.state,
             undercut.competitor_price, undercut.our_price, undercut.gap_pct, undercut.previous_price,
             undercut.changes_last_hour, undercut.observed_at),
        )  # fmt: skip
        return undercut.state
