"""The demand estimator's reads and writes: the cells it fits on (one set-based query over a window of
landed events, as of a `now` parameter) and the `demand_estimates` table it replaces per run."""

from __future__ import annotations

import math
from dataclasses import astuple, fields
from datetime import datetime, timedelta

import numpy as np
import psycopg
from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.pricing.demand import CELL_COLUMNS, DemandParams, Estimate, estimate

# Per product × hour × price shown: product views and purchases (each event carries the price shown at
# that moment), with the mean competitor price observed in that product-hour, the hour of day (UTC) and
# the product's category and reference (catalog base) price. The window is the last DEMAND_WINDOW_DAYS,
# plus the periods of finished price experiments that began before it: an experiment's randomised price
# variation is the cleanest evidence there is, so it does not age out with the rolling window.
CELLS_SQL = sql.SQL(
    """
    WITH kept AS (
        SELECT a.product_id, e.starts_at AS w_start, least(e.ended_at, %(start)s) AS w_end
        FROM {experiments} e JOIN {arms} a USING (experiment_id)
        WHERE e.status <> 'running' AND e.starts_at < %(start)s
    ), events AS (
        SELECT product_id, event_time, event_type, product_price FROM {clicks}
        WHERE event_time > %(start)s AND event_time <= %(end)s
          AND event_type IN ('product_view', 'purchase') AND product_price > 0
        UNION ALL
        SELECT c.product_id, c.event_time, c.event_type, c.product_price
        FROM kept k JOIN {clicks} c
          ON c.product_id = k.product_id AND c.event_time >= k.w_start AND c.event_time <= k.w_end
        WHERE c.event_type IN ('product_view', 'purchase') AND c.product_price > 0
    ), observed AS (
        SELECT product_id, event_time, competitor_price FROM {competitors}
        WHERE event_time > %(start)s AND event_time <= %(end)s
        UNION ALL
        SELECT c.product_id, c.event_time, c.competitor_price
        FROM kept k JOIN {competitors} c
          ON c.product_id = k.product_id AND c.event_time >= k.w_start AND c.event_time <= k.w_end
    ), shown AS (
        SELECT product_id, date_trunc('hour', event_time) AS hour, product_price AS price,
               count(*) FILTER (WHERE event_type = 'product_view') AS views,
               count(*) FILTER (WHERE event_type = 'purchase') AS purchases
        FROM events
        GROUP BY 1, 2, 3
    ), market AS (
        SELECT product_id, date_trunc('hour', event_time) AS hour, avg(competitor_price) AS competitor_avg
        FROM observed
        GROUP BY 1, 2
    )
    SELECT s.product_id, p.category, p.base_price::float8, s.price::float8, m.competitor_avg::float8,
           extract(hour FROM s.hour AT TIME ZONE 'UTC')::int, s.views, s.purchases
    FROM shown s
    JOIN {products} p USING (product_id)
    LEFT JOIN market m USING (product_id, hour)
    ORDER BY s.product_id, s.hour, s.price
    """
).format(
    clicks=sql.Identifier(tables.CLICKSTREAM_EVENTS),
    competitors=sql.Identifier(tables.COMPETITOR_PRICES),
    products=sql.Identifier(tables.PRODUCTS),
    experiments=sql.Identifier(tables.PRICE_EXPERIMENTS),
    arms=sql.Identifier(tables.PRICE_EXPERIMENT_ARMS),
)

ESTIMATE_COLUMNS = tuple(f.name for f in fields(Estimate))
WRITTEN_COLUMNS = (*ESTIMATE_COLUMNS, "ci_level", "window_start", "window_end", "estimated_at")
_DELETE_SQL = sql.SQL("DELETE FROM {}").format(sql.Identifier(tables.DEMAND_ESTIMATES))
_COPY_SQL = sql.SQL("COPY {} ({}) FROM STDIN").format(
    sql.Identifier(tables.DEMAND_ESTIMATES), sql.SQL(", ").join(map(sql.Identifier, WRITTEN_COLUMNS))
)
_LOCK_SQL = sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.Identifier(tables.DEMAND_ESTIMATES))


def read_cells(conn: psycopg.Connection, start: datetime, end: datetime) -> dict[str, np.ndarray]:
    with conn.cursor() as cur:
        cur.execute(CELLS_SQL, {"start": start, "end": end})
        rows = cur.fetchall()
    by_column = list(zip(*rows, strict=True)) if rows else [() for _ in CELL_COLUMNS]
    columns: dict[str, np.ndarray] = {}
    for name, values in zip(CELL_COLUMNS, by_column, strict=True):
        if name in ("product_id", "category"):
            columns[name] = np.array(values, dtype=object)
        else:
            columns[name] = np.array([math.nan if v is None else v for v in values], dtype=float)
    return columns


def write_estimates(
    conn: psycopg.Connection,
    estimates: list[Estimate],
    params: DemandParams,
    start: datetime,
    end: datetime,
    estimated_at: datetime,
) -> None:
    """Replace the table's content with `estimates`, in the caller's transaction."""
    conn.execute(_LOCK_SQL)
    conn.execute(_DELETE_SQL)
    with conn.cursor() as cur, cur.copy(_COPY_SQL) as copy:
        for e in estimates:
            values = [None if isinstance(v, float) and math.isnan(v) else v for v in astuple(e)]
            copy.write_row((*values, params.ci_level, start, end, estimated_at))


def refresh_estimates(conn: psycopg.Connection, params: DemandParams, now: datetime) -> list[Estimate]:
    """Estimate from the DEMAND_WINDOW_DAYS before `now` and replace the table, in one transaction."""
    start = now - timedelta(days=params.window_days)
    with conn.transaction():
        cells = read_cells(conn, start, now)
        estimates = estimate(cells, params)
        write_estimates(conn, estimates, params, start, now, now)
    return estimates
