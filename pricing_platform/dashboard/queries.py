"""Every query the dashboard runs, by name. All read the dbt marts, the analytics tables, the latest/state
tables or a short, indexed window of one product's history: never a scan of an event table.

Each query is a function of a connection (and plain parameters) returning a DataFrame, so the page code
only asks for data by name and the cache keys on (name, parameters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.core.catalog import Stream
from pricing_platform.pricing import cycle_inputs, experiment_store, policy

Query = Callable[..., pd.DataFrame]
QUERIES: dict[str, Query] = {}


def query(fn: Query) -> Query:
    QUERIES[fn.__name__] = fn
    return fn


def _frame(
    conn: psycopg.Connection, statement: sql.Composable, params: dict[str, Any] | None = None
) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(statement, params or {})
        columns = [c.name for c in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=columns)


def _t(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _mart(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


# --- overview ------------------------------------------------------------------------------------------


@query
def throughput(conn: psycopg.Connection, minutes: int = 30) -> pd.DataFrame:
    """Events landed (and dead letters) per stream and minute over the last `minutes`, the current one
    included; a minute without a batch is 0, so an outage shows as a drop, not as a line across it."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT s.stream, m.minute, coalesce(t.events, 0) AS events, "
            "coalesce(t.dead_letters, 0) AS dead_letters "
            "FROM unnest(%(streams)s::text[]) AS s(stream) "
            "CROSS JOIN generate_series("
            "date_trunc('minute', now()) - make_interval(mins => %(minutes)s - 1), "
            "date_trunc('minute', now()), interval '1 minute') AS m(minute) "
            # The window filter on the table itself lets the planner use its minute index.
            "LEFT JOIN (SELECT * FROM {} "
            "WHERE minute >= date_trunc('minute', now()) - make_interval(mins => %(minutes)s - 1)) t "
            "ON t.stream = s.stream AND t.minute = m.minute "
            "ORDER BY m.minute, s.stream"
        ).format(_t(tables.INGEST_THROUGHPUT)),
        {"minutes": minutes, "streams": [stream.value for stream in Stream]},
    )


@query
def funnel_per_minute(conn: psycopg.Connection, minutes: int = 60) -> pd.DataFrame:
    """Product views, cart adds and purchases per category and minute of event time over the last
    `minutes`, from the stream processor (a minute appears once it has closed)."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT minute, product_category AS category, sum(product_views)::int AS views, "
            "sum(cart_adds)::int AS cart_adds, sum(purchases)::int AS purchases FROM {} "
            "WHERE minute >= date_trunc('minute', now()) - make_interval(mins => %(minutes)s) "
            "GROUP BY minute, product_category ORDER BY minute, product_category"
        ).format(_t(tables.FUNNEL_MINUTES)),
        {"minutes": minutes},
    )


@query
def cart_abandonment(conn: psycopg.Connection, min_carts: int, hours: int = 24) -> pd.DataFrame:
    """Of the sessions that closed in the last `hours`, how many added `min_carts` or more items to the
    cart, and how many of those left without buying (the stream processor's abandonments)."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT count(*) AS sessions, count(*) FILTER (WHERE cart_adds >= %(n)s) AS cart_sessions, "
            "count(*) FILTER (WHERE cart_adds >= %(n)s AND purchases = 0) AS abandoned FROM {} "
            "WHERE ended_at >= now() - make_interval(hours => %(hours)s)"
        ).format(_t(tables.SHOPPER_SESSIONS)),
        {"n": min_carts, "hours": hours},
    )


@query
def top_abandoned_products(conn: psycopg.Connection, hours: int = 24, limit: int = 10) -> pd.DataFrame:
    """Products most often left in abandoned carts over the last `hours`, with the value left behind."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT a.product_id, p.product_name, p.category, count(*) AS abandoned_carts, "
            "max(a.last_cart_at) AS latest FROM (SELECT unnest(products) AS product_id, last_cart_at "
            "FROM {abandonments} WHERE last_cart_at >= now() - make_interval(hours => %(hours)s)) a "
            "JOIN {products} p USING (product_id) GROUP BY a.product_id, p.product_name, p.category "
            "ORDER BY abandoned_carts DESC, a.product_id LIMIT %(limit)s"
        ).format(abandonments=_t(tables.CART_ABANDONMENTS), products=_t(tables.PRODUCTS)),
        {"hours": hours, "limit": limit},
    )


@query
def revenue_and_conversion(conn: psycopg.Connection, marts_schema: str) -> pd.DataFrame:
    """Today's (UTC) sessions, converted sessions and revenue over all categories (dbt mart)."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT coalesce(sum(revenue), 0)::float8 AS revenue, coalesce(sum(purchases), 0)::bigint AS "
            "purchases, "
            "coalesce(sum(sessions), 0)::bigint AS sessions, "
            "coalesce(sum(converted_sessions), 0)::bigint AS converted_sessions "
            "FROM {} WHERE event_date = (now() AT TIME ZONE 'UTC')::date"
        ).format(_mart(marts_schema, tables.MART_DAILY_FUNNEL_METRICS)),
    )


@query
def recommendation_counts(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT recommendation, count(*) AS products, max(created_at) AS cycle_at FROM {} "
            "GROUP BY recommendation ORDER BY recommendation"
        ).format(_t(tables.PRICING_RECOMMENDATIONS_LATEST)),
    )


@query
def open_alerts(conn: psycopg.Connection, limit: int = 50) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT severity, kind, title, opened_at, last_seen_at, count(*) OVER () AS open_total "
            "FROM {} WHERE cleared_at IS NULL "
            "ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, opened_at DESC "
            "LIMIT %(limit)s"
        ).format(_t(tables.ALERTS)),
        {"limit": limit},
    )


# --- pricing -------------------------------------------------------------------------------------------


@query
def latest_recommendations(conn: psycopg.Connection) -> pd.DataFrame:
    """The newest recommendation per product, with the product's price now (which an approval changes)."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT r.recommendation_id, r.product_id, p.product_name, p.category, "
            "p.current_price::float8 AS price_now, r.current_price::float8 AS priced_from, "
            "r.competitor_avg_price::float8 AS competitor_avg, r.price_gap_pct::float8 AS gap_pct, "
            "r.recommendation, r.recommended_price::float8 AS recommended_price, "
            "r.confidence::float8 AS confidence, r.guardrail, r.reason, r.created_at, "
            "(c.recommendation_id IS NOT NULL) AS approved "
            "FROM {latest} r JOIN {products} p USING (product_id) "
            "LEFT JOIN {changes} c ON c.recommendation_id = r.recommendation_id "
            "ORDER BY r.product_id"
        ).format(
            latest=_t(tables.PRICING_RECOMMENDATIONS_LATEST),
            products=_t(tables.PRODUCTS),
            changes=_t(tables.PRICE_CHANGES),
        ),
    )


@query
def our_price_history(conn: psycopg.Connection, product_id: str, hours: int = 24) -> pd.DataFrame:
    """Our price per 5 minutes as the engine saw it each cycle (indexed on product and time)."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT date_bin('5 minutes', created_at, 'epoch') AS at, "
            "avg(current_price)::float8 AS price FROM {} "
            "WHERE product_id = %(product_id)s AND created_at > now() - make_interval(hours => %(hours)s) "
            "GROUP BY 1 ORDER BY 1"
        ).format(_t(tables.PRICING_RECOMMENDATIONS)),
        {"product_id": product_id, "hours": hours},
    )


@query
def competitor_price_history(conn: psycopg.Connection, product_id: str, hours: int = 24) -> pd.DataFrame:
    """Each competitor's average observed price per 5 minutes (indexed on product and event time)."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT date_bin('5 minutes', event_time, 'epoch') AS at, competitor_name, "
            "avg(competitor_price)::float8 AS price FROM {} "
            "WHERE product_id = %(product_id)s AND event_time > now() - make_interval(hours => %(hours)s) "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ).format(_t(tables.COMPETITOR_PRICES)),
        {"product_id": product_id, "hours": hours},
    )


@query
def price_changes(conn: psycopg.Connection, limit: int = 100) -> pd.DataFrame:
    """The audit trail of approved price changes, newest first."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT c.approved_at, c.approved_by, c.product_id, p.product_name, c.old_price::float8 AS "
            "old_price, "
            "c.new_price::float8 AS new_price, c.recommendation_id, c.note "
            "FROM {changes} c JOIN {products} p USING (product_id) ORDER BY c.approved_at DESC LIMIT "
            "%(limit)s"
        ).format(changes=_t(tables.PRICE_CHANGES), products=_t(tables.PRODUCTS)),
        {"limit": limit},
    )


# --- pricing policy ------------------------------------------------------------------------------------


@query
def category_policies(conn: psycopg.Connection) -> pd.DataFrame:
    """Each category's stored overrides (one column per setting; empty: the environment's default)."""
    return _frame(conn, policy.LOAD_SQL)


@query
def latest_cycle_inputs(conn: psycopg.Connection) -> pd.DataFrame:
    """What the newest pricing cycle decided from (one row: cycle id, instant, the stored document)."""
    return _frame(conn, cycle_inputs.LATEST_SQL)


@query
def review_queue(conn: psycopg.Connection) -> pd.DataFrame:
    """Each product's latest raise/lower that waits for an analyst, with why it was not applied
    automatically (empty until its cycle's checks have run)."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT q.recommendation_id, q.product_id, p.product_name, p.category, q.recommendation, "
            "q.current_price::float8 AS priced_from, q.recommended_price::float8 AS recommended_price, "
            "q.confidence::float8 AS confidence, q.auto_apply_outcome, "
            "coalesce(q.auto_apply_detail, 'its cycle is not checked yet') AS auto_apply_detail, q.reason, "
            "q.created_at FROM {queue} q JOIN {products} p USING (product_id) ORDER BY q.product_id"
        ).format(queue=_t(tables.REVIEW_QUEUE), products=_t(tables.PRODUCTS)),
    )


@query
def pricing_controls(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL("SELECT auto_apply_enabled, updated_by, updated_at FROM {}").format(
            _t(tables.PRICING_CONTROLS)
        ),
    )


@query
def price_bounds(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT product_id, product_name, category, current_price::float8 AS price_now, "
            "min_price::float8 AS min_price, max_price::float8 AS max_price FROM {} ORDER BY product_id"
        ).format(_t(tables.PRODUCTS)),
    )


@query
def policy_changes(conn: psycopg.Connection, limit: int = 100) -> pd.DataFrame:
    """The audit trail of policy edits (categories and price bounds), newest first."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT changed_at, changed_by, scope, subject, setting, old_value::text AS old_value, "
            "new_value::text AS new_value, note FROM {} ORDER BY policy_change_id DESC LIMIT %(limit)s"
        ).format(_t(tables.POLICY_CHANGES)),
        {"limit": limit},
    )


# --- price experiments ---------------------------------------------------------------------------------


@query
def price_experiments(conn: psycopg.Connection) -> pd.DataFrame:
    """Every experiment, newest first, with its arms' prices (a product's; empty for a category, whose
    products each have their own)."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT e.experiment_id, e.name, e.scope, e.subject, e.status, e.arm_b_pct, e.block_minutes, "
            "e.starts_at, e.ends_at, e.ended_at, e.stopped_by, e.stopped_reason, e.created_by, "
            "e.harm_stop_pct, count(a.product_id) AS products, "
            "CASE WHEN count(*) = 1 THEN min(a.control_price)::float8 END AS control_price, "
            "CASE WHEN count(*) = 1 THEN min(a.test_price)::float8 END AS test_price FROM {experiments} e "
            "JOIN {arms} a USING (experiment_id) GROUP BY e.experiment_id ORDER BY e.experiment_id DESC"
        ).format(experiments=_t(tables.PRICE_EXPERIMENTS), arms=_t(tables.PRICE_EXPERIMENT_ARMS)),
    )


@query
def experiment_blocks(conn: psycopg.Connection, experiment_id: int) -> pd.DataFrame:
    """Per block begun so far: the views, units, revenue and gross profit at its arm's price
    (experiment_store.BLOCK_STATS_SQL, which the stopping rule and the benchmark analyse too)."""
    return _frame(conn, experiment_store.BLOCK_STATS_SQL, {"experiment": experiment_id, "until": "now"})


# --- inventory -----------------------------------------------------------------------------------------


@query
def stock_levels(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT s.product_id, p.product_name, p.category, s.warehouse_id, s.current_stock "
            "FROM {state} s JOIN {products} p USING (product_id) ORDER BY s.product_id, s.warehouse_id"
        ).format(state=_t(tables.INVENTORY_STATE), products=_t(tables.PRODUCTS)),
    )


@query
def stockout_risk(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT product_id, product_name, category, total_stock, hourly_velocity::float8 AS units_per_h, "
            "hours_until_stockout::float8 AS hours_until_stockout, risk, computed_at FROM {} "
            "ORDER BY hours_until_stockout NULLS LAST, product_id"
        ).format(_t(tables.ANALYTICS_STOCKOUT_RISK)),
    )


@query
def open_stock_alerts(conn: psycopg.Connection) -> pd.DataFrame:
    """Slots the stock sensor flags now (out of stock, or out within its horizon)."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT context->>'product_id' AS product_id, context->>'warehouse_id' AS warehouse_id, "
            "severity, "
            "(context->>'hours_left')::float8 AS hours_left FROM {} WHERE cleared_at IS NULL AND kind = "
            "'stock'"
        ).format(_t(tables.ALERTS)),
    )


# --- competitors ---------------------------------------------------------------------------------------


@query
def competitor_landscape(conn: psycopg.Connection, max_age_s: int) -> pd.DataFrame:
    """Each competitor's latest price per product, if fresher than `max_age_s` (the engine's staleness
    limit), against ours now: index = theirs / ours × 100."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT c.competitor_name, c.product_id, p.product_name, "
            "c.competitor_price::float8 AS competitor_price, p.current_price::float8 AS our_price, "
            "round(c.competitor_price / p.current_price * 100, 1)::float8 AS price_index, "
            "c.event_time AS observed_at FROM {latest} c JOIN {products} p USING (product_id) "
            "WHERE c.event_time > now() - make_interval(secs => %(max_age_s)s) "
            "ORDER BY c.product_id, c.competitor_name"
        ).format(latest=_t(tables.COMPETITOR_PRICES_LATEST), products=_t(tables.PRODUCTS)),
        {"max_age_s": max_age_s},
    )


# --- funnel --------------------------------------------------------------------------------------------


@query
def recent_undercuts(conn: psycopg.Connection, hours: int = 24, limit: int = 50) -> pd.DataFrame:
    """The stream processor's undercut transitions of the last `hours` (by observation time), newest
    first, with what the repricer recommended and how long after the observation it did."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT u.observed_at, u.product_id, u.competitor_name, u.state, u.competitor_price, "
            "u.our_price, u.gap_pct, u.changes_last_hour, r.recommendation, r.recommended_price, "
            "extract(epoch FROM r.created_at - u.observed_at)::float8 AS decided_after_s, u.outcome "
            "FROM {undercuts} u LEFT JOIN {recs} r ON r.recommendation_id = u.recommendation_id "
            "WHERE u.observed_at >= now() - make_interval(hours => %(hours)s) "
            "ORDER BY u.observed_at DESC LIMIT %(limit)s"
        ).format(undercuts=_t(tables.COMPETITOR_UNDERCUTS), recs=_t(tables.PRICING_RECOMMENDATIONS)),
        {"hours": hours, "limit": limit},
    )


@query
def funnel_by_category(conn: psycopg.Connection, marts_schema: str, days: int = 7) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT category, sum(sessions)::bigint AS sessions, sum(viewing_sessions)::bigint AS viewed, "
            "sum(cart_sessions)::bigint AS carted, sum(converted_sessions)::bigint AS converted, "
            "sum(revenue)::float8 AS revenue FROM {} "
            "WHERE event_date > (now() AT TIME ZONE 'UTC')::date - %(days)s GROUP BY category ORDER BY "
            "category"
        ).format(_mart(marts_schema, tables.MART_DAILY_FUNNEL_METRICS)),
        {"days": days},
    )


@query
def funnel_stages(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT stage_order, stage, sessions, pct_of_first::float8 AS pct_of_first, "
            "drop_off_pct::float8 AS drop_off_pct, is_steepest_drop, computed_at FROM {} ORDER BY stage_order"
        ).format(_t(tables.ANALYTICS_FUNNEL_STAGES)),
    )


@query
def funnel_breakdown(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT device_type, category, stage_order, stage, sessions, pct_of_first::float8 AS "
            "pct_of_first "
            "FROM {} ORDER BY device_type, category, stage_order"
        ).format(_t(tables.ANALYTICS_FUNNEL_BREAKDOWN)),
    )


@query
def session_profiles(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT converted, sessions, avg_events_per_session::float8 AS avg_events_per_session, "
            "avg_duration_s::float8 AS avg_duration_s, avg_products_viewed::float8 AS avg_products_viewed, "
            "device_mix FROM {} ORDER BY converted DESC"
        ).format(_t(tables.ANALYTICS_SESSION_PROFILES)),
    )


# --- analytics -----------------------------------------------------------------------------------------


@query
def price_position(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT product_id, product_name, category, our_price::float8 AS our_price, "
            "competitor_avg_price::float8 AS competitor_avg_price, price_gap_pct::float8 AS price_gap_pct, "
            "gap_bucket, recommendation, recommended_price::float8 AS recommended_price, base_quantity, "
            "current_revenue::float8 AS current_revenue, simulated_revenue::float8 AS simulated_revenue, "
            "revenue_impact::float8 AS revenue_impact, elasticity, elasticity_source, computed_at "
            "FROM {} ORDER BY product_id"
        ).format(_t(tables.ANALYTICS_PRICE_POSITION)),
    )


@query
def elasticity_summary(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT recommendation, products, avg_price_gap_pct::float8 AS avg_price_gap_pct, base_quantity, "
            "current_revenue::float8 AS current_revenue, simulated_revenue::float8 AS simulated_revenue, "
            "revenue_impact::float8 AS revenue_impact, elasticity::float8 AS elasticity, computed_at "
            "FROM {} ORDER BY recommendation"
        ).format(_t(tables.ANALYTICS_ELASTICITY_SUMMARY)),
    )


@query
def demand_estimates(conn: psycopg.Connection) -> pd.DataFrame:
    """The learned elasticities (categories first), with their intervals and the evidence behind them."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT scope, subject, category, elasticity, ci_low, ci_high, ci_level, source, purchases, "
            "views, price_points, price_sd_pct, conversion, note, window_start, window_end, estimated_at "
            "FROM {} ORDER BY scope, category, subject"
        ).format(_t(tables.DEMAND_ESTIMATES)),
    )


@query
def rfm_segments(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT segment, customers, customer_share_pct::float8 AS customer_share_pct, revenue::float8 "
            "AS revenue, "
            "revenue_share_pct::float8 AS revenue_share_pct, avg_recency_days::float8 AS avg_recency_days, "
            "avg_frequency::float8 AS avg_frequency, avg_monetary::float8 AS avg_monetary, computed_at "
            "FROM {} ORDER BY revenue DESC"
        ).format(_t(tables.ANALYTICS_RFM_SEGMENTS)),
    )


@query
def rfm_scores(conn: psycopg.Connection) -> pd.DataFrame:
    """Buyers per (R, F) score pair and segment: the classic RFM grid, aggregated in the database."""
    return _frame(
        conn,
        sql.SQL(
            "SELECT r_score, f_score, count(*) AS customers, sum(monetary)::float8 AS revenue FROM {} "
            "GROUP BY r_score, f_score ORDER BY r_score, f_score"
        ).format(_t(tables.ANALYTICS_RFM_CUSTOMERS)),
    )


@query
def demand_hourly(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT category, hour, purchases, ma_1h::float8 AS ma_1h, ma_3h::float8 AS ma_3h FROM {} "
            "ORDER BY hour, category"
        ).format(_t(tables.ANALYTICS_DEMAND_HOURLY)),
    )


@query
def demand_forecast(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT category, horizon_h, forecast_hour, forecast_purchases::float8 AS forecast_purchases, "
            "computed_at FROM {} ORDER BY category, horizon_h"
        ).format(_t(tables.ANALYTICS_DEMAND_FORECAST)),
    )


@query
def demand_heatmap(conn: psycopg.Connection) -> pd.DataFrame:
    return _frame(
        conn,
        sql.SQL(
            "SELECT day_of_week, hour_of_day, purchases FROM {} ORDER BY day_of_week, hour_of_day"
        ).format(_t(tables.ANALYTICS_DEMAND_HEATMAP)),
    )
