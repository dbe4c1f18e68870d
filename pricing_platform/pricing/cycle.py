"""One pricing cycle: read every input in one set-based query, decide, append the recommendations."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import psycopg
from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.pricing.engine import OUTPUT_COLUMNS, columns_from_rows, decide, row
from pricing_platform.pricing.rules import PricingRules

# For every product with any competitor observation: our price and cost, the fresh competitor prices
# (within the staleness limit) averaged, how many of them undercut us, and purchases in the last hour by
# event time, all as of the cycle's `now` parameter. Stale observations still count for "newest_age_s", so
# a reason can say how old they are.
INPUTS_SQL = sql.SQL(
    """
    WITH observed AS (
        SELECT product_id,
               competitor_price,
               extract(epoch FROM %(now)s::timestamptz - event_time) AS age_s
        FROM {latest}
    ), market AS (
        SELECT o.product_id,
               avg(o.competitor_price) FILTER (WHERE o.age_s <= %(staleness_s)s) AS competitor_avg,
               count(*) FILTER (WHERE o.age_s <= %(staleness_s)s) AS competitors_seen,
               count(*) FILTER (WHERE o.age_s <= %(staleness_s)s AND o.competitor_price < p.current_price)
                   AS competitors_below,
               avg(o.age_s) FILTER (WHERE o.age_s <= %(staleness_s)s) AS mean_age_s,
               min(o.age_s) AS newest_age_s
        FROM observed o
        JOIN {products} p USING (product_id)
        GROUP BY o.product_id
    ), demand AS (
        SELECT product_id, count(*) AS velocity
        FROM {clicks}
        WHERE event_type = 'purchase' AND event_time > %(now)s::timestamptz - interval '1 hour'
          AND event_time <= %(now)s::timestamptz
        GROUP BY product_id
    )
    -- float8 on the way out: the engine computes in floats and converting Decimals in Python costs more
    -- than the query (prices are cents, far inside float precision).
    SELECT p.product_id, p.current_price::float8, p.unit_cost::float8, m.competitor_avg::float8,
           m.competitors_seen, m.competitors_below, m.mean_age_s::float8, m.newest_age_s::float8,
           coalesce(d.velocity, 0) AS velocity
    FROM market m
    JOIN {products} p USING (product_id)
    LEFT JOIN demand d USING (product_id)
    ORDER BY p.product_id
    """
).format(
    latest=sql.Identifier(tables.COMPETITOR_PRICES_LATEST),
    products=sql.Identifier(tables.PRODUCTS),
    clicks=sql.Identifier(tables.CLICKSTREAM_EVENTS),
)

# COPY rather than INSERT … unnest: psycopg adapts big array parameters in Python, COPY streams rows.
COPY_SQL = sql.SQL("COPY {} (cycle_id, {}) FROM STDIN").format(
    sql.Identifier(tables.PRICING_RECOMMENDATIONS), sql.SQL(", ").join(map(sql.Identifier, OUTPUT_COLUMNS))
)


@dataclass(frozen=True)
class CycleSummary:
    cycle_id: uuid.UUID
    products_priced: int
    by_recommendation: dict[str, int]
    guardrail_hits: dict[str, int]
    read_s: float
    decide_s: float
    write_s: float
    sample: list[dict[str, object]] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return self.read_s + self.decide_s + self.write_s


def load_inputs(conn: psycopg.Connection, rules: PricingRules, now: datetime) -> dict[str, np.ndarray]:
    with conn.cursor() as cur:
        cur.execute(INPUTS_SQL, {"staleness_s": rules.staleness_s, "now": now})
        return columns_from_rows(cur.fetchall())


def _sql_values(column: np.ndarray) -> list[object]:
    """Column → Python values with NULL for NaN/None."""
    values = column.tolist()
    if column.dtype.kind == "f":
        return [None if v != v else v for v in values]  # v != v: NaN
    return values


def write_recommendations(
    conn: psycopg.Connection, cycle_id: uuid.UUID, decided: dict[str, np.ndarray]
) -> None:
    columns = [_sql_values(decided[name]) for name in OUTPUT_COLUMNS]
    with conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
        for values in zip(*columns, strict=True):
            copy.write_row((cycle_id, *values))


def run_cycle(conn: psycopg.Connection, rules: PricingRules, now: datetime | None = None) -> CycleSummary:
    """Read, decide and append one cycle in a single transaction (readers never see half a cycle).

    `now` is the instant the cycle prices at (the last hour's purchases, the prices' ages): the real
    clock by default, a simulated one in simulated-time runs."""
    cycle_id = uuid.uuid4()
    now = now or datetime.now(UTC)
    with conn.transaction():
        started = time.perf_counter()
        inputs = load_inputs(conn, rules, now)
        read_done = time.perf_counter()
        decided = decide(inputs, rules)
        decide_done = time.perf_counter()
        priced = len(decided["product_id"])
        if priced:
            write_recommendations(conn, cycle_id, decided)
        write_done = time.perf_counter()
    guardrails: Counter[str] = Counter()
    for label in decided["guardrail"].tolist():
        if label:
            guardrails.update(label.split("+"))
    return CycleSummary(
        cycle_id=cycle_id,
        products_priced=priced,
        by_recommendation=dict(Counter(decided["recommendation"].tolist())),
        guardrail_hits=dict(guardrails),
        read_s=read_done - started,
        decide_s=decide_done - read_done,
        write_s=write_done - decide_done,
        sample=[row(decided, i) for i in range(min(5, priced))],
    )
