"""One pricing cycle: read every input in one set-based query, decide, append the recommendations."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from pricing_platform.db import tables
from pricing_platform.pricing.engine import INPUT_COLUMNS, OUTPUT_COLUMNS, decide
from pricing_platform.pricing.rules import PricingRules

# For every product with any competitor observation: our price and cost, the fresh competitor prices
# (within the staleness limit) averaged, how many of them undercut us, and purchases in the last hour by
# event time. Stale observations still count for "newest_age_s", so a reason can say how old they are.
INPUTS_SQL = sql.SQL(
    """
    WITH observed AS (
        SELECT product_id,
               competitor_price,
               extract(epoch FROM now() - event_time) AS age_s
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
        WHERE event_type = 'purchase' AND event_time > now() - interval '1 hour' AND event_time <= now()
        GROUP BY product_id
    )
    SELECT p.product_id, p.current_price, p.unit_cost, m.competitor_avg, m.competitors_seen,
           m.competitors_below, m.mean_age_s, m.newest_age_s, coalesce(d.velocity, 0) AS velocity
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

INSERT_SQL = sql.SQL(
    """
    INSERT INTO {table} (cycle_id, product_id, current_price, competitor_avg_price, competitors_seen,
                         price_gap_pct, demand_velocity, recommendation, recommended_price, confidence,
                         guardrail, reason)
    SELECT %(cycle_id)s, * FROM unnest(%(product_id)s::text[], %(current_price)s::numeric[],
        %(competitor_avg_price)s::numeric[], %(competitors_seen)s::smallint[], %(price_gap_pct)s::numeric[],
        %(demand_velocity)s::int[], %(recommendation)s::text[], %(recommended_price)s::numeric[],
        %(confidence)s::numeric[], %(guardrail)s::text[], %(reason)s::text[])
    """
).format(table=sql.Identifier(tables.PRICING_RECOMMENDATIONS))


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


def load_inputs(conn: psycopg.Connection, rules: PricingRules) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(INPUTS_SQL, {"staleness_s": rules.staleness_s})
        rows = cur.fetchall()
    frame = pd.DataFrame(rows, columns=list(INPUT_COLUMNS))
    for column in ("current_price", "unit_cost", "competitor_avg", "mean_age_s", "newest_age_s"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def _nullable(values: np.ndarray) -> list[object]:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values.tolist()]


def write_recommendations(conn: psycopg.Connection, cycle_id: uuid.UUID, decided: pd.DataFrame) -> None:
    params: dict[str, object] = {"cycle_id": cycle_id}
    for column in OUTPUT_COLUMNS:
        params[column] = _nullable(decided[column].to_numpy(dtype=object))
    conn.execute(INSERT_SQL, params)


def run_cycle(conn: psycopg.Connection, rules: PricingRules) -> CycleSummary:
    """Read, decide and append one cycle in a single transaction (readers never see half a cycle)."""
    cycle_id = uuid.uuid4()
    with conn.transaction():
        started = time.perf_counter()
        inputs = load_inputs(conn, rules)
        read_done = time.perf_counter()
        decided = decide(inputs, rules)
        decide_done = time.perf_counter()
        if len(decided):
            write_recommendations(conn, cycle_id, decided)
        write_done = time.perf_counter()
    guardrails: Counter[str] = Counter()
    for label in decided["guardrail"].dropna():
        guardrails.update(label.split("+"))
    return CycleSummary(
        cycle_id=cycle_id,
        products_priced=len(decided),
        by_recommendation={k: int(v) for k, v in decided["recommendation"].value_counts().items()},
        guardrail_hits=dict(guardrails),
        read_s=read_done - started,
        decide_s=decide_done - read_done,
        write_s=write_done - decide_done,
        sample=decided.drop(columns=["margin_floor"]).head(5).to_dict("records"),
    )
