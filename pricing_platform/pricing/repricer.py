"""Event-driven repricing: each undercut the stream processor publishes reprices its product at once,
between the scheduled cycles, through the same engine, policies and guardrails (`cycle.run_cycle` on that
one product).

The repricer is an ingest worker of `stream.undercuts` whose sink prices: the undercut row, the
recommendation and the consumed offset commit in one PostgreSQL transaction, so an undercut reprices its
product exactly once whatever crashes (a redelivered undercut finds its row and does nothing). The
recommendation cites the observation's event id (`trigger_event_id`); the commit notifies
`RECOMMENDATIONS_CHANNEL` with it, for whoever waits on the decision (the latency benchmark, a UI).

It prices from the observation that caused the undercut: the competitor ingest worker lands observations
independently, so the repricer first waits until this one is in `competitor_prices` (it then is the
pair's latest, or a newer one is). An observation that does not land within REPRICER_LANDING_WAIT_S
(the competitor worker is down, or refused it) is recorded as not repriced, so one lost observation never
holds up the undercuts behind it; the next scheduled cycle prices the product anyway.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar, Final

import msgspec
import psycopg
from prometheus_client import Counter as MetricCounter
from prometheus_client import Histogram
from psycopg import sql

from ingest_workers.sinks import SinkResult, existing_ids
from ingest_workers.worker import IngestWorker
from pricing_platform.core import catalog, tables
from pricing_platform.core.events import Undercut
from pricing_platform.core.settings import Settings
from pricing_platform.pricing.cycle import Trigger, run_cycle
from pricing_platform.pricing.rules import PricingRules

log = logging.getLogger(__name__)

TRIGGER: Final = "undercut"
LANDING_POLL_S: Final = 0.02

UNDERCUTS = MetricCounter(
    "pricing_repricer_undercuts_total", "Undercuts handled by the repricer, by outcome", ["outcome"]
)
DECISION_SECONDS = Histogram(
    "pricing_repricer_decision_seconds",
    "From an undercut observation's timestamp to its recommendation being written",
    buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 30, 60),
)

_INSERT = sql.SQL(
    """
    INSERT INTO {undercuts} (event_id, product_id, competitor_name, state, competitor_price, our_price,
                             gap_pct, previous_price, changes_last_hour, observed_at, outcome)
    SELECT *, 'pending' FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::numeric[],
                                    %s::numeric[], %s::numeric[], %s::numeric[], %s::int[],
                                    %s::timestamptz[])
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
    """
).format(undercuts=sql.Identifier(tables.COMPETITOR_UNDERCUTS))
_OUTCOME = sql.SQL(
    """
    UPDATE {undercuts} u
    SET outcome = CASE WHEN r.recommendation_id IS NULL THEN %(not_priced)s ELSE 'repriced' END,
        recommendation_id = r.recommendation_id
    FROM unnest(%(ids)s::uuid[]) AS e(event_id)
    LEFT JOIN {recs} r ON r.trigger_event_id = e.event_id
    WHERE u.event_id = e.event_id
    """
).format(
    undercuts=sql.Identifier(tables.COMPETITOR_UNDERCUTS), recs=sql.Identifier(tables.PRICING_RECOMMENDATIONS)
)
_NOT_LANDED = sql.SQL("UPDATE {} SET outcome = %s WHERE event_id = ANY(%s)").format(
    sql.Identifier(tables.COMPETITOR_UNDERCUTS)
)
_NOTIFY = "SELECT pg_notify(%s, e::text) FROM unnest(%s::uuid[]) AS e"


def rounds(undercuts: Sequence[Undercut]) -> list[list[Undercut]]:
    """The undercuts in cycles of one undercut per product, in arrival order: a product undercut twice in
    one batch is priced twice, each recommendation citing its own event."""
    seen: Counter[str] = Counter()
    out: list[list[Undercut]] = []
    for undercut in undercuts:
        index = seen[undercut.product_id]
        seen[undercut.product_id] += 1
        if index == len(out):
            out.append([])
        out[index].append(undercut)
    return out


class UndercutRepricer:
    """The `stream.undercuts` sink: records each undercut once and reprices its product."""

    event_type: ClassVar[type] = Undercut

    def __init__(self, settings: Settings) -> None:
        self.rules = PricingRules.from_settings(settings)
        self.landing_wait_s = settings.repricer_landing_wait_s

    def write(self, cur: psycopg.Cursor, events: Sequence[Undercut]) -> SinkResult:
        if not events:
            return SinkResult(0, 0)
        unique = list({e.event_id: e for e in events}.values())
        columns = zip(*(msgspec.structs.astuple(e) for e in unique), strict=True)
        cur.execute(_INSERT, [list(c) for c in columns])
        fresh_ids = {row[0] for row in cur.fetchall()}
        fresh = [e for e in unique if e.event_id in fresh_ids]
        if fresh:
            landed = self._wait_until_landed(cur, [e.event_id for e in fresh])
            missing = [e.event_id for e in fresh if e.event_id not in landed]
            if missing:
                reason = f"observation not landed within {self.landing_wait_s:g}s; not repriced"
                cur.execute(_NOT_LANDED, (reason, missing))
                UNDERCUTS.labels(outcome="not_landed").inc(len(missing))
                log.warning("%d undercut(s) not repriced: %s (%s…)", len(missing), reason, missing[0])
            priced = [e for e in fresh if e.event_id in landed]
            for batch in rounds(priced):
                self._reprice(cur.connection, batch)
            if priced:
                ids = [e.event_id for e in priced]
                cur.execute(_OUTCOME, {"ids": ids, "not_priced": "the engine priced no row for it"})
                cur.execute(_NOTIFY, (tables.RECOMMENDATIONS_CHANNEL, ids))
        return SinkResult(len(fresh), len(events) - len(fresh))

    def _wait_until_landed(self, cur: psycopg.Cursor, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """The ids among `ids` found in competitor_prices, polling until all are or the wait is over.
        Each poll is its own statement, so it sees what the competitor worker committed meanwhile."""
        deadline = time.monotonic() + self.landing_wait_s
        while True:
            landed = existing_ids(cur, tables.COMPETITOR_PRICES, ids)
            if len(landed) == len(ids) or time.monotonic() > deadline:
                return landed
            time.sleep(LANDING_POLL_S)

    def _reprice(self, conn: psycopg.Connection, undercuts: list[Undercut]) -> None:
        trigger = Trigger(TRIGGER, {u.product_id: u.event_id for u in undercuts})
        summary = run_cycle(conn, self.rules, trigger=trigger)
        now = datetime.now(UTC)
        for undercut in undercuts:
            DECISION_SECONDS.observe((now - undercut.observed_at).total_seconds())
        UNDERCUTS.labels(outcome="repriced").inc(len(undercuts))
        log.info(
            "repriced %s after %s: %s",
            ", ".join(trigger.product_ids),
            ", ".join(f"{u.competitor_name} {u.state} at {u.competitor_price} ({u.gap_pct}% below)"
                      for u in undercuts),
            summary.by_recommendation,
        )  # fmt: skip


def run_repricer(settings: Settings, *, worker_id: str | None = None) -> None:
    """Run until SIGTERM/SIGINT. Several share the undercuts' partitions (a product's undercuts keep to
    one partition, so they are priced in order)."""
    worker = IngestWorker(
        catalog.StreamOutput.UNDERCUTS, settings, worker_id=worker_id, sink=UndercutRepricer(settings)
    )
    worker.install_signal_handlers()
    worker.run()
