"""Reading the analyses' inputs from PostgreSQL and replacing their output tables.

Every query aggregates inside PostgreSQL to the grain the pure functions take (a session, a product, a
buyer, an hour), bounded by event time relative to one `as_of` instant, so what crosses the wire stays small
however much clickstream there is. Inputs come from the dbt staging views (live: they are views over the raw
tables) and the `pricing_analysis` mart (rebuilt every 5 minutes).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pricing_platform.analytics.params import AnalyticsParams
from pricing_platform.core import tables


class MissingModelError(RuntimeError):
    """A dbt model the analytics read does not exist yet."""


@contextmanager
def _dbt_models_required(params: AnalyticsParams) -> Iterator[None]:
    try:
        yield
    except psycopg.errors.UndefinedTable as exc:
        raise MissingModelError(
            f"{str(exc).splitlines()[0]}: the analytics read the dbt models in schemas "
            f"{params.staging_schema!r} and {params.marts_schema!r}; build them first "
            "(`pricing-platform dbt cli build`, or wait for the dbt_marts_every_5_minutes schedule)"
        ) from exc


def frame(conn: psycopg.Connection, query: sql.Composable, params: Mapping[str, Any]) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(query, params)
        columns = [column.name for column in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=columns)


# --- inputs --------------------------------------------------------------------------------------------

# Both funnel queries read the same window; numeric work happens in pandas (pricing_platform.analytics).
_WINDOW = "event_time > %(as_of)s - make_interval(hours => %(window_h)s) AND event_time <= %(as_of)s"

FUNNEL_SESSIONS_SQL = """
SELECT session_id::text AS session_id,
       (array_agg(device_type ORDER BY event_time, device_type))[1] AS device_type,
       count(*) AS events,
       extract(epoch FROM max(event_time) - min(event_time))::float8 AS duration_s,
       count(DISTINCT product_id) FILTER (WHERE event_type = 'product_view') AS products_viewed,
       bool_or(event_type = 'page_view') AS page_view,
       bool_or(event_type = 'product_view') AS product_view,
       bool_or(event_type = 'add_to_cart') AS add_to_cart,
       bool_or(event_type = 'purchase') AS purchase
FROM {clicks}
WHERE """ + _WINDOW + """
GROUP BY session_id
"""  # fmt: skip

FUNNEL_SESSION_CATEGORIES_SQL = """
SELECT session_id::text AS session_id, category,
       bool_or(event_type = 'product_view') AS product_view,
       bool_or(event_type = 'add_to_cart') AS add_to_cart,
       bool_or(event_type = 'purchase') AS purchase
FROM {clicks}
WHERE category IS NOT NULL AND """ + _WINDOW + """
GROUP BY session_id, category
"""  # fmt: skip


def read_funnel_inputs(
    conn: psycopg.Connection, params: AnalyticsParams, as_of: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sessions, session_categories) of the sessions with events in the funnel window (a session that
    started before the window is seen from the window start on)."""
    clicks = params.staging("stg_clickstream")
    args = {"as_of": as_of, "window_h": params.funnel_window_h}
    with _dbt_models_required(params):
        sessions = frame(conn, sql.SQL(FUNNEL_SESSIONS_SQL).format(clicks=clicks), args)
        categories = frame(conn, sql.SQL(FUNNEL_SESSION_CATEGORIES_SQL).format(clicks=clicks), args)
    return sessions, categories


PRICE_POSITION_SQL = """
SELECT product_id, product_name, category, current_price::float8 AS our_price,
       avg_competitor_price::float8 AS competitor_avg_price, competitors_fresh AS competitors_seen,
       recommendation, recommended_price::float8 AS recommended_price
FROM {analysis}
"""
QUANTITY_BASE_SQL = """
SELECT product_id, count(*) AS quantity
FROM {clicks}
WHERE event_type = 'purchase' AND event_time > %(as_of)s - make_interval(days => %(days)s)
  AND event_time <= %(as_of)s
GROUP BY product_id
"""
# The learned elasticity per product (the hourly demand_estimates asset; none before its first run).
LEARNED_ELASTICITY_SQL = """
SELECT subject AS product_id, elasticity, source AS elasticity_source
FROM {estimates}
WHERE scope = 'product'
"""
COMPETITOR_LATEST_SQL = """
SELECT competitor_name, product_id, competitor_price::float8 AS competitor_price, observed_at, is_fresh
FROM {competitors}
"""


def read_elasticity_inputs(
    conn: psycopg.Connection, params: AnalyticsParams, as_of: datetime
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(products from marts.pricing_analysis with their learned elasticity where there is one, purchases
    per product in the lookback, latest competitor prices)."""
    with _dbt_models_required(params):
        products = frame(
            conn, sql.SQL(PRICE_POSITION_SQL).format(analysis=params.mart("pricing_analysis")), {}
        )
        quantities = frame(
            conn,
            sql.SQL(QUANTITY_BASE_SQL).format(clicks=params.staging("stg_clickstream")),
            {"as_of": as_of, "days": params.lookback_days},
        )
        latest = frame(
            conn,
            sql.SQL(COMPETITOR_LATEST_SQL).format(competitors=params.staging("stg_competitor_prices")),
            {},
        )
    learned = frame(
        conn, sql.SQL(LEARNED_ELASTICITY_SQL).format(estimates=sql.Identifier(tables.DEMAND_ESTIMATES)), {}
    )
    products = products.merge(learned, on="product_id", how="left")
    return products, quantities, latest


BUYERS_SQL = """
SELECT user_id, max(event_time) AS last_purchase_at, count(*) AS frequency, sum(revenue)::float8 AS monetary
FROM {clicks}
WHERE event_type = 'purchase' AND event_time > %(as_of)s - make_interval(days => %(days)s)
  AND event_time <= %(as_of)s
GROUP BY user_id
"""


def read_buyers(conn: psycopg.Connection, params: AnalyticsParams, as_of: datetime) -> pd.DataFrame:
    with _dbt_models_required(params):
        return frame(
            conn,
            sql.SQL(BUYERS_SQL).format(clicks=params.staging("stg_clickstream")),
            {"as_of": as_of, "days": params.rfm_lookback_days},
        )


HOURLY_PURCHASES_SQL = """
SELECT category, event_hour AS hour, count(*) AS purchases
FROM {clicks}
WHERE event_type = 'purchase' AND category IS NOT NULL
  AND event_time >= %(end)s - make_interval(days => %(days)s) AND event_time < %(end)s
GROUP BY category, event_hour
"""
STOCK_SQL = """
WITH stock AS (
    SELECT product_id, sum(stock_on_hand) AS total_stock FROM {state} GROUP BY product_id
),
sold AS (
    SELECT product_id, sum(absolute_quantity) AS units
    FROM {movements}
    WHERE movement_type = 'sale' AND is_applied
      AND event_time > %(as_of)s - make_interval(hours => %(window_h)s) AND event_time <= %(as_of)s
    GROUP BY product_id
)
SELECT p.product_id, p.product_name, p.category, coalesce(stock.total_stock, 0)::bigint AS total_stock,
       coalesce(sold.units, 0)::bigint AS units_sold_window
FROM {products} p
LEFT JOIN stock USING (product_id)
LEFT JOIN sold USING (product_id)
"""


def current_hour(as_of: datetime) -> datetime:
    """Start of the hour `as_of` is in: the end (exclusive) of the complete hours."""
    return as_of.replace(minute=0, second=0, microsecond=0)


def read_demand_inputs(
    conn: psycopg.Connection, params: AnalyticsParams, as_of: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(purchases per category × complete hour of the lookback, stock and recent sales per product)."""
    with _dbt_models_required(params):
        hourly = frame(
            conn,
            sql.SQL(HOURLY_PURCHASES_SQL).format(clicks=params.staging("stg_clickstream")),
            {"end": current_hour(as_of), "days": params.lookback_days},
        )
        stock = frame(
            conn,
            sql.SQL(STOCK_SQL).format(
                state=params.staging("stg_inventory_state"),
                movements=params.staging("stg_inventory"),
                products=params.staging("stg_products"),
            ),
            {"as_of": as_of, "window_h": params.velocity_window_h},
        )
    return hourly, stock


# --- outputs -------------------------------------------------------------------------------------------


def _value(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, dict):
        return Jsonb(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):  # numpy scalars
        return _value(value.item())
    return value


def replace_tables(
    conn: psycopg.Connection, frames: Mapping[str, pd.DataFrame], computed_at: datetime
) -> None:
    """Replace each table's rows with its frame (columns named as the table's), stamped `computed_at`, all
    in one transaction: readers see the previous complete result until the commit, then the new one.
    DELETE rather than TRUNCATE, whose exclusive lock would block the dashboard's reads meanwhile."""
    unknown = set(frames) - set(tables.ALL)
    if unknown:
        raise ValueError(f"not analytics tables of this platform: {sorted(unknown)}")
    with conn.transaction():
        for table, data in frames.items():
            columns = [*data.columns, "computed_at"]
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for row in data.itertuples(index=False, name=None):
                    copy.write_row([*(_value(v) for v in row), computed_at])


def read_table(conninfo: str, table: str, order_by: tuple[str, ...] = ()) -> pd.DataFrame:
    """An analytics table as a DataFrame (numeric columns as floats), for the notebooks."""
    if table not in tables.ALL:
        raise ValueError(f"{table!r} is not a table of this platform (pricing_platform/core/tables.py)")
    query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))
    if order_by:
        query += sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(map(sql.Identifier, order_by)))
    with psycopg.connect(conninfo, connect_timeout=10) as conn:
        data = frame(conn, query, {})
    for column in data.columns:
        if data[column].map(lambda v: isinstance(v, Decimal)).any():
            data[column] = data[column].astype("float64")
    return data
