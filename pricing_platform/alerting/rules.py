"""When the alert sensors raise an alert: each rule reads the current condition in one query and returns
the alerts that hold now (`store.sync_alerts` then opens, refreshes and clears rows to match)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import ClassVar

import psycopg
from psycopg import sql

from pricing_platform.alerting.store import Alert
from pricing_platform.core import tables
from pricing_platform.core.settings import SettingsSection

STOCK = "stock"
COMPETITOR_UNDERCUT = "competitor_undercut"


class AlertRules(SettingsSection):
    """The alert sensors' thresholds; defaults and descriptions in the settings (ALERT_*)."""

    settings_prefix = "alert_"
    settings_renamed: ClassVar[dict[str, str]] = {"competitor_staleness_s": "pricing_staleness_s"}

    stockout_horizon_h: float
    stock_velocity_window_h: int
    undercut_pct: float
    weak_demand_velocity: int
    competitor_staleness_s: int  # the pricing engine's freshness rule: alert on the prices it acts on


# ---- stock ---------------------------------------------------------------------------------------------

# Every slot at zero, or whose stock lasts at most the horizon at the window's rate of sale:
# stock / (units / window) <= horizon, multiplied out so that slots without sales (units NULL) drop out.
# Events dated in the future (allowed within the ingest skew) are not counted yet.
AT_RISK_SQL = sql.SQL(
    """
    WITH sold AS (
        SELECT product_id, warehouse_id, -sum(quantity_change) AS units
        FROM {events}
        WHERE event_type = 'sale' AND status = 'applied' AND quantity_change < 0
          AND event_time > now() - make_interval(hours => %(window_h)s) AND event_time <= now()
        GROUP BY product_id, warehouse_id
    )
    SELECT s.product_id, p.product_name, s.warehouse_id, s.current_stock,
           coalesce(sold.units, 0)::float8 / %(window_h)s AS units_per_h
    FROM {state} s
    JOIN {products} p USING (product_id)
    LEFT JOIN sold USING (product_id, warehouse_id)
    WHERE s.current_stock = 0 OR s.current_stock * %(window_h)s <= sold.units * %(horizon_h)s
    ORDER BY s.product_id, s.warehouse_id
    """
).format(
    events=sql.Identifier(tables.INVENTORY_EVENTS),
    state=sql.Identifier(tables.INVENTORY_STATE),
    products=sql.Identifier(tables.PRODUCTS),
)


def stock_alert(
    product_id: str, product_name: str, warehouse_id: str, stock: int, units_per_h: float
) -> Alert:
    hours_left = stock / units_per_h if units_per_h > 0 else None
    # Titles stay the same while the condition holds (the "resolved" message repeats them); the changing
    # numbers go in the context.
    if stock == 0:
        severity, title = "critical", f"Stock out: {product_id} ({product_name}) at {warehouse_id}"
    else:
        severity, title = "warning", f"Low stock: {product_id} ({product_name}) at {warehouse_id}"
    return Alert(
        condition_key=f"{STOCK}:{product_id}:{warehouse_id}",
        kind=STOCK,
        severity=severity,
        title=title,
        context={
            "product_id": product_id,
            "product_name": product_name,
            "warehouse_id": warehouse_id,
            "stock": stock,
            "units_per_h": round(units_per_h, 2),
            "hours_left": None if hours_left is None else round(hours_left, 1),
        },
    )


def stock_alerts(conn: psycopg.Connection, rules: AlertRules) -> list[Alert]:
    """A product × warehouse at zero stock (critical) or running out within the horizon at its rate of
    sale over the velocity window (warning)."""
    params = {"window_h": rules.stock_velocity_window_h, "horizon_h": rules.stockout_horizon_h}
    return [stock_alert(*row) for row in conn.execute(AT_RISK_SQL, params).fetchall()]


# ---- competitor undercut -------------------------------------------------------------------------------

# Fresh observations (the pricing engine's staleness rule) more than the threshold below our current
# price, on products with fewer purchases in the last hour (by event time) than the weak-demand velocity.
# Compared with products.current_price, not the observation's our_price: we may have repriced since.
UNDERCUT_SQL = sql.SQL(
    """
    WITH demand AS (
        SELECT product_id, count(*) AS purchases
        FROM {clicks}
        WHERE event_type = 'purchase' AND event_time > now() - interval '1 hour' AND event_time <= now()
        GROUP BY product_id
    ), observed AS (
        SELECT c.product_id, p.product_name, c.competitor_name, p.current_price, c.competitor_price,
               (p.current_price - c.competitor_price) / p.current_price * 100 AS gap_pct,
               coalesce(d.purchases, 0) AS purchases, c.event_time
        FROM {latest} c
        JOIN {products} p USING (product_id)
        LEFT JOIN demand d USING (product_id)
        WHERE c.event_time >= now() - make_interval(secs => %(staleness_s)s)
    )
    SELECT product_id, product_name, competitor_name, current_price, competitor_price, gap_pct, purchases,
           event_time
    FROM observed
    WHERE gap_pct > %(undercut_pct)s AND purchases < %(weak_velocity)s
    ORDER BY product_id, competitor_name
    """
).format(
    clicks=sql.Identifier(tables.CLICKSTREAM_EVENTS),
    latest=sql.Identifier(tables.COMPETITOR_PRICES_LATEST),
    products=sql.Identifier(tables.PRODUCTS),
)


def undercut_alert(
    product_id: str,
    product_name: str,
    competitor: str,
    our_price: Decimal,
    their_price: Decimal,
    gap_pct: Decimal,
    purchases: int,
    observed_at: datetime,
) -> Alert:
    return Alert(
        condition_key=f"{COMPETITOR_UNDERCUT}:{product_id}:{competitor}",
        kind=COMPETITOR_UNDERCUT,
        severity="warning",
        # Stays the same while the condition holds; the moving numbers go in the context.
        title=f"{competitor} undercuts {product_id} ({product_name}) on weak demand",
        context={
            "product_id": product_id,
            "product_name": product_name,
            "competitor": competitor,
            "our_price": float(our_price),
            "competitor_price": float(their_price),
            "gap_pct": round(float(gap_pct), 2),
            "purchases_last_hour": purchases,
            "observed_at": observed_at.isoformat(timespec="seconds"),
        },
    )


def undercut_alerts(conn: psycopg.Connection, rules: AlertRules) -> list[Alert]:
    """A fresh competitor price more than the threshold below our current price on a product with weak
    demand in the last hour."""
    params = {
        "staleness_s": rules.competitor_staleness_s,
        "undercut_pct": rules.undercut_pct,
        "weak_velocity": rules.weak_demand_velocity,
    }
    return [undercut_alert(*row) for row in conn.execute(UNDERCUT_SQL, params).fetchall()]
