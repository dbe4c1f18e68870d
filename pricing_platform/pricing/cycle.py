"""One pricing cycle: read every input in one set-based query, decide, append the recommendations."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import psycopg
from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.core.price_gate import GATE_SQL, gate_params
from pricing_platform.pricing import cycle_inputs
from pricing_platform.pricing.engine import (
    INPUT_COLUMNS,
    OUTPUT_COLUMNS,
    columns_from_rows,
    decide,
    python_values,
    row,
)
from pricing_platform.pricing.policy import load_overrides, rules_by_category
from pricing_platform.pricing.profit import decide_profit
from pricing_platform.pricing.rules import PricingRules

# For every product with any competitor observation: our price and cost, the fresh competitor prices
# (within the staleness limit) that pass the price gate, averaged, how many of them undercut us, and
# purchases in the last hour by event time, all as of the cycle's `now` parameter. Stale observations still
# count for "newest_age_s", so a reason can say how old they are. Observations the price gate holds
# (core/price_gate.py) are left out.
INPUTS_SQL = sql.SQL(
    """
    WITH observed AS (
        SELECT product_id,
               competitor_price,
               extract(epoch FROM %(now)s::timestamptz - event_time) AS age_s,
               held
        FROM ({gate}) gated
        -- An event-driven cycle prices the products it names; the scheduled one every product (NULL).
        WHERE %(ids)s::text[] IS NULL OR product_id = ANY(%(ids)s::text[])
    ), market AS (
        SELECT o.product_id,
               avg(o.competitor_price) FILTER (WHERE o.age_s <= %(staleness_s)s AND NOT o.held)
                   AS competitor_avg,
               count(*) FILTER (WHERE o.age_s <= %(staleness_s)s AND NOT o.held) AS competitors_seen,
               count(*) FILTER (WHERE o.age_s <= %(staleness_s)s AND NOT o.held
                                AND o.competitor_price < p.current_price) AS competitors_below,
               avg(o.age_s) FILTER (WHERE o.age_s <= %(staleness_s)s AND NOT o.held) AS mean_age_s,
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
           coalesce(d.velocity, 0) AS velocity, p.category
    FROM market m
    JOIN {products} p USING (product_id)
    -- On the products' key, whose statistics the planner knows (through the gate's window it would
    -- guess 200 rows per product, estimate 20 M rows and spend 0.4 s compiling the query with JIT).
    LEFT JOIN demand d ON d.product_id = p.product_id
    ORDER BY p.product_id
    """
).format(
    gate=GATE_SQL,
    products=sql.Identifier(tables.PRODUCTS),
    clicks=sql.Identifier(tables.CLICKSTREAM_EVENTS),
)

LOADED_COLUMNS = (*INPUT_COLUMNS, "category")

# What only the profit strategy needs, for the products of its categories: reference price and bounds,
# stock across warehouses, recent views and purchases per hour, the demand estimate (the product's, else
# its category's, else the prior), and a competitor that followed our last cut (price-war guard). Our
# last price change comes from the audit trail; "followed" is read in event time from the scrapes, which
# carry our price at that moment: a competitor scraped at or below our cut price (within the tolerance)
# while showing our new price, after having been scraped above it while showing our old one, both within
# the war window.
PROFIT_INPUTS_SQL = sql.SQL(
    """
    WITH traffic AS (
        SELECT product_id,
               count(*) FILTER (WHERE event_type = 'product_view') AS views,
               count(*) FILTER (WHERE event_type = 'purchase') AS purchases
        FROM {clicks}
        WHERE event_time > %(now)s::timestamptz - make_interval(secs => %(views_window_s)s)
          AND event_time <= %(now)s::timestamptz
          AND event_type IN ('product_view', 'purchase')
          AND (%(ids)s::text[] IS NULL OR product_id = ANY(%(ids)s::text[]))
        GROUP BY product_id
    ), stock AS (
        SELECT product_id, sum(current_stock) AS stock
        FROM {inventory}
        WHERE %(ids)s::text[] IS NULL OR product_id = ANY(%(ids)s::text[])
        GROUP BY product_id
    ), last_change AS (
        SELECT DISTINCT ON (product_id) product_id, old_price, new_price
        FROM {changes}
        WHERE %(ids)s::text[] IS NULL OR product_id = ANY(%(ids)s::text[])
        ORDER BY product_id, price_change_id DESC
    ), war AS (
        SELECT c.product_id, min(l.competitor_name) AS war_competitor
        FROM last_change c
        JOIN {latest} l ON l.product_id = c.product_id
        WHERE c.new_price < c.old_price
          AND l.our_price = c.new_price
          AND l.competitor_price <= c.new_price * (1 + %(tolerance)s / 100.0)
          AND l.event_time > %(now)s::timestamptz - make_interval(secs => %(war_window_s)s)
          AND l.event_time <= %(now)s::timestamptz
          AND EXISTS (
              SELECT FROM {history} b
              WHERE b.product_id = c.product_id AND b.competitor_name = l.competitor_name
                AND b.our_price = c.old_price
                AND b.competitor_price > c.new_price * (1 + %(tolerance)s / 100.0)
                AND b.event_time > %(now)s::timestamptz - make_interval(secs => %(war_window_s)s)
                AND b.event_time <= l.event_time
          )
        GROUP BY c.product_id
    )
    SELECT p.product_id, p.base_price::float8, p.min_price::float8, p.max_price::float8,
           coalesce(s.stock, 0)::float8,
           coalesce(t.views, 0)::float8 / %(views_window_h)s,
           coalesce(t.purchases, 0)::float8 / %(views_window_h)s,
           coalesce(pe.elasticity, ce.elasticity, %(prior)s),
           coalesce(pe.std_error, ce.std_error, %(prior_sd)s),
           pe.conversion,
           coalesce(pe.source, CASE WHEN ce.subject IS NOT NULL THEN 'category' END, 'prior'),
           w.war_competitor
    FROM {products} p
    LEFT JOIN stock s USING (product_id)
    LEFT JOIN traffic t USING (product_id)
    LEFT JOIN war w USING (product_id)
    LEFT JOIN {estimates} pe ON pe.scope = 'product' AND pe.subject = p.product_id
    LEFT JOIN {estimates} ce ON ce.scope = 'category' AND ce.subject = p.category
    -- NULL: every product (the scheduled cycle), without a catalog-sized array to send and match.
    WHERE %(ids)s::text[] IS NULL OR p.product_id = ANY(%(ids)s::text[])
    """
).format(
    clicks=sql.Identifier(tables.CLICKSTREAM_EVENTS),
    inventory=sql.Identifier(tables.INVENTORY_STATE),
    changes=sql.Identifier(tables.PRICE_CHANGES),
    latest=sql.Identifier(tables.COMPETITOR_PRICES_LATEST),
    history=sql.Identifier(tables.COMPETITOR_PRICES),
    products=sql.Identifier(tables.PRODUCTS),
    estimates=sql.Identifier(tables.DEMAND_ESTIMATES),
)
PROFIT_LOADED_COLUMNS = (
    "product_id", "reference_price", "min_price", "max_price", "stock", "views_per_hour",
    "purchases_per_hour", "elasticity", "elasticity_se", "conversion", "estimate_source", "war_competitor",
)  # fmt: skip

WRITTEN_COLUMNS = (*OUTPUT_COLUMNS, "strategy")
TRIGGER_COLUMNS = ("triggered_by", "trigger_event_id")
# COPY rather than INSERT … unnest: psycopg adapts big array parameters in Python, COPY streams rows.
COPY_SQL = sql.SQL("COPY {} (cycle_id, {}) FROM STDIN").format(
    sql.Identifier(tables.PRICING_RECOMMENDATIONS),
    sql.SQL(", ").join(map(sql.Identifier, (*WRITTEN_COLUMNS, *TRIGGER_COLUMNS))),
)


@dataclass(frozen=True)
class Trigger:
    """What started an event-driven cycle: per product, the event that caused its repricing."""

    kind: str  # pricing_recommendations.triggered_by
    events: dict[str, uuid.UUID]  # product id → event id

    @property
    def product_ids(self) -> list[str]:
        return sorted(self.events)


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


def input_params(
    rules: PricingRules, now: datetime, product_ids: list[str] | None = None
) -> dict[str, object]:
    """INPUTS_SQL's parameters (`product_ids`: only those products; None: all)."""
    return {
        "staleness_s": rules.staleness_s,
        "now": now,
        "ids": product_ids,
        **gate_params(rules.gate_jump_pct, rules.gate_market_pct, rules.gate_confirm_pct),
    }


def load_inputs(
    conn: psycopg.Connection, rules: PricingRules, now: datetime, product_ids: list[str] | None = None
) -> dict[str, np.ndarray]:
    with conn.cursor() as cur:
        cur.execute(INPUTS_SQL, input_params(rules, now, product_ids))
        return columns_from_rows(cur.fetchall(), LOADED_COLUMNS)


def profit_params(rules: PricingRules, now: datetime, product_ids: list[str] | None) -> dict[str, object]:
    """PROFIT_INPUTS_SQL's parameters (`product_ids`: only those products; None: all)."""
    return {
        "ids": product_ids,
        "now": now,
        "views_window_s": rules.views_window_h * 3600,
        "views_window_h": rules.views_window_h,
        "war_window_s": rules.war_window_h * 3600,
        "tolerance": rules.follow_tolerance_pct,
        "prior": rules.prior_elasticity,
        "prior_sd": rules.prior_sd,
    }


def load_profit_inputs(
    conn: psycopg.Connection, rules: PricingRules, now: datetime, product_ids: list[str] | None
) -> dict[str, np.ndarray]:
    """The profit strategy's inputs of `product_ids` (None: every product)."""
    with conn.cursor() as cur:
        cur.execute(PROFIT_INPUTS_SQL, profit_params(rules, now, product_ids))
        return columns_from_rows(cur.fetchall(), PROFIT_LOADED_COLUMNS)


def demand_columns(
    inputs: dict[str, np.ndarray], profit_inputs: dict[str, np.ndarray], rows: np.ndarray
) -> dict[str, np.ndarray]:
    """The profit strategy's input columns for `rows` of `inputs` (every product has profit inputs)."""
    position = {pid: i for i, pid in enumerate(profit_inputs["product_id"].tolist())}
    ids = inputs["product_id"][rows].tolist()
    missing = [pid for pid in ids if pid not in position]
    if missing:
        raise ValueError(f"no profit-strategy inputs for {missing[:5]} ({len(missing)} products)")
    at = np.array([position[pid] for pid in ids], dtype=np.int64)
    merged = {name: inputs[name][rows] for name in ("product_id", "current_price", "unit_cost",
              "competitor_avg", "competitors_seen", "velocity")}  # fmt: skip
    merged.update({name: profit_inputs[name][at] for name in PROFIT_LOADED_COLUMNS if name != "product_id"})
    merged["conversion"] = _reference_conversion(merged)
    return merged


def decide_all(
    inputs: dict[str, np.ndarray],
    profit_inputs: dict[str, np.ndarray] | None,
    rules_of: Callable[[str], PricingRules],
) -> dict[str, np.ndarray]:
    """Every product by its category's rules and strategy (`rules_of(category)`): `rules` is
    engine.decide, `profit` is profit.decide_profit; the rows come back in the order of `inputs`."""
    categories = inputs["category"]
    parts: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
    for category in sorted(set(categories.tolist())):
        rows = np.flatnonzero(categories == category)
        rules = rules_of(category)
        strategy = rules.strategy_of(category)
        if strategy == "profit":
            if profit_inputs is None:
                raise ValueError(f"{category!r} is priced by the profit strategy; its inputs were not loaded")
            decided = decide_profit(demand_columns(inputs, profit_inputs, rows), rules)
        else:
            decided = decide({name: inputs[name][rows] for name in INPUT_COLUMNS}, rules)
        decided["strategy"] = np.full(len(rows), strategy, dtype=object)
        parts.append((rows, decided))
    if not parts:
        empty = decide({name: inputs[name] for name in INPUT_COLUMNS}, rules_of(""))
        empty["strategy"] = np.array([], dtype=object)
        return {name: empty[name] for name in WRITTEN_COLUMNS}
    order = np.argsort(np.concatenate([rows for rows, _ in parts]), kind="stable")
    return {name: np.concatenate([decided[name] for _, decided in parts])[order] for name in WRITTEN_COLUMNS}


def _reference_conversion(merged: dict[str, np.ndarray]) -> np.ndarray:
    """The estimate's conversion at the reference price or, without one (no estimate yet), the recent
    purchases per view moved to the reference price along the elasticity."""
    estimated = np.asarray(merged["conversion"], dtype=float)
    views = np.asarray(merged["views_per_hour"], dtype=float)
    purchases = np.asarray(merged["purchases_per_hour"], dtype=float)
    x = np.asarray(merged["current_price"], dtype=float) / np.asarray(merged["reference_price"], dtype=float)
    b = np.asarray(merged["elasticity"], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.where(
            views > 0, purchases / np.where(views > 0, views, 1.0) * np.exp(-b * (x - 1)), np.nan
        )
    return np.where(np.isfinite(estimated), estimated, observed)


def write_recommendations(
    conn: psycopg.Connection,
    cycle_id: uuid.UUID,
    decided: dict[str, np.ndarray],
    trigger: Trigger | None = None,
) -> None:
    columns = [python_values(decided[name]) for name in WRITTEN_COLUMNS]
    kind = trigger.kind if trigger else "schedule"
    with conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
        for values in zip(*columns, strict=True):
            event = trigger.events.get(values[0]) if trigger else None
            copy.write_row((cycle_id, *values, kind, event))


def run_cycle(
    conn: psycopg.Connection,
    rules: PricingRules,
    now: datetime | None = None,
    *,
    trigger: Trigger | None = None,
) -> CycleSummary:
    """Read, decide and append one cycle in a single transaction (readers never see half a cycle).

    `rules` are the environment's; each category's stored policy overrides them (pricing/policy.py). The
    profit strategy's inputs are read for the products it prices and, when the stored inputs are due
    (`inputs_store_interval_s`), for every product, stored with the cycle's other inputs so that a preview
    of another strategy works from what this cycle saw.
    `now` is the instant the cycle prices at (the last hour's purchases, the prices' ages): the real
    clock by default, a simulated one in simulated-time runs.
    `trigger`: an event-driven cycle (pricing/repricer.py) of only the products it names, each row citing
    the event that caused it; its inputs are never the stored ones (they describe every product)."""
    cycle_id = uuid.uuid4()
    now = now or datetime.now(UTC)
    with conn.transaction():
        started = time.perf_counter()
        overrides = load_overrides(conn)
        rules_of = rules_by_category(rules, overrides)
        inputs = load_inputs(conn, rules, now, trigger.product_ids if trigger else None)
        store = trigger is None and cycle_inputs.due(conn, rules.inputs_store_interval_s)
        ids = [pid for pid, category in zip(inputs["product_id"].tolist(), inputs["category"].tolist(),
               strict=True) if store or rules_of(category).strategy == "profit"]  # fmt: skip
        every = trigger is None and len(ids) == len(inputs["product_id"])
        profit_inputs = load_profit_inputs(conn, rules, now, None if every else ids) if ids else None
        read_done = time.perf_counter()
        decided = decide_all(inputs, profit_inputs, rules_of)
        decide_done = time.perf_counter()
        priced = len(decided["product_id"])
        if priced:
            write_recommendations(conn, cycle_id, decided, trigger)
            if store and profit_inputs is not None:
                document = cycle_inputs.to_json(rules, overrides, inputs, profit_inputs)
                cycle_inputs.save(conn, cycle_id, now, document)
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
