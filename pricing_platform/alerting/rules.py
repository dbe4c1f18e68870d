"""When the alert sensors raise an alert: each rule reads the current condition in one query and returns
the alerts that hold now (`store.sync_alerts` then opens, refreshes and, after
ALERT_CLEAR_AFTER_EVALUATIONS misses, clears rows to match)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import psycopg
from psycopg import sql

from pricing_platform.alerting.decisions import Direction, moved, price_move_pct
from pricing_platform.alerting.store import Alert, Severity
from pricing_platform.core import tables
from pricing_platform.core.price_gate import GATE_SQL, gate_params
from pricing_platform.core.settings import SettingsSection

STOCK = "stock"
COMPETITOR_UNDERCUT = "competitor_undercut"
COMPETITOR_PRICE_MOVE = "competitor_price_move"


class AlertRules(SettingsSection):
    """The alert sensors' thresholds; defaults and descriptions in the settings (ALERT_*)."""

    settings_prefix = "alert_"
    settings_renamed: ClassVar[dict[str, str]] = {
        "competitor_staleness_s": "pricing_staleness_s",
        "gate_jump_pct": "pricing_gate_jump_pct",
        "gate_market_pct": "pricing_gate_market_pct",
        "gate_confirm_pct": "pricing_gate_confirm_pct",
    }

    stockout_horizon_h: float
    stock_velocity_window_h: int
    weak_demand_velocity: int
    competitor_staleness_s: int  # the pricing engine's freshness rule: alert on the prices it acts on
    gate_jump_pct: float  # …and its price gate (core/price_gate.py): no alert on a price it holds back
    gate_market_pct: float
    gate_confirm_pct: float
    clear_after_evaluations: int
    price_move_direction: Direction
    price_move_min_pct: float
    price_move_window_h: int
    price_move_severity: Severity


@dataclass(frozen=True)
class Found:
    """What a rule found: the conditions that hold (they open alerts) and those that only keep an open alert
    open (between a clear and an open threshold)."""

    alerts: list[Alert] = field(default_factory=list)
    holding: list[Alert] = field(default_factory=list)


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

# Undercuts are detected once, by the stream processor (streaming/undercuts.py: UNDERCUT_PCT to open,
# UNDERCUT_CLEAR_PCT to clear), which the repricer lands in competitor_undercuts as it reprices. A pair is
# alerted on while its newest transition there is not `cleared`, its latest observation is fresh (the
# pricing engine's staleness rule) and trusted by the price gate, and the product's demand is weak (fewer
# purchases in the last hour, by event time, than the weak-demand velocity). The gap shown is against
# products.current_price: we may have repriced since.
UNDERCUT_SQL = sql.SQL(
    """
    WITH demand AS (
        SELECT product_id, count(*) AS purchases
        FROM {clicks}
        WHERE event_type = 'purchase' AND event_time > now() - interval '1 hour' AND event_time <= now()
        GROUP BY product_id
    ), newest AS (
        SELECT DISTINCT ON (product_id, competitor_name) product_id, competitor_name, state
        FROM {undercuts}
        ORDER BY product_id, competitor_name, observed_at DESC, landed_at DESC
    )
    SELECT c.product_id, p.product_name, c.competitor_name, p.current_price, c.competitor_price,
           (p.current_price - c.competitor_price) / p.current_price * 100 AS gap_pct,
           coalesce(d.purchases, 0) AS purchases, c.event_time
    FROM newest u
    JOIN ({gate}) c USING (product_id, competitor_name)
    JOIN {products} p USING (product_id)
    LEFT JOIN demand d USING (product_id)
    WHERE u.state <> 'cleared' AND NOT c.held
      AND c.event_time >= now() - make_interval(secs => %(staleness_s)s)
      AND coalesce(d.purchases, 0) < %(weak_velocity)s
    ORDER BY c.product_id, c.competitor_name
    """
).format(
    clicks=sql.Identifier(tables.CLICKSTREAM_EVENTS),
    undercuts=sql.Identifier(tables.COMPETITOR_UNDERCUTS),
    gate=GATE_SQL,
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


def undercut_alerts(conn: psycopg.Connection, rules: AlertRules) -> Found:
    """An open undercut (as the stream processor judged it) on a product with weak demand in the last hour,
    while its competitor's latest price is fresh and trusted."""
    params = {
        "staleness_s": rules.competitor_staleness_s,
        "weak_velocity": rules.weak_demand_velocity,
        **gate_params(rules.gate_jump_pct, rules.gate_market_pct, rules.gate_confirm_pct),
    }
    return Found(alerts=[undercut_alert(*row) for row in conn.execute(UNDERCUT_SQL, params).fetchall()])


# ---- competitor price move -----------------------------------------------------------------------------

# Each fresh observation the price gate trusts beside the price the same competitor asked a window ago: the
# newest observation at or before the window's start, or, for a pair first seen within the window, its
# first one. The (product_id, event_time) index finds it among a few rows per product.
PRICE_MOVE_SQL = sql.SQL(
    """
    SELECT c.product_id, p.product_name, c.competitor_name, before.competitor_price, c.competitor_price,
           c.event_time
    FROM ({gate}) c
    JOIN {products} p USING (product_id)
    CROSS JOIN LATERAL (
        SELECT competitor_price FROM (
            (SELECT competitor_price, 0 AS pick FROM {prices} h
             WHERE h.product_id = c.product_id AND h.competitor_name = c.competitor_name
               AND h.event_time <= now() - make_interval(hours => %(window_h)s)
             ORDER BY h.event_time DESC LIMIT 1)
            UNION ALL
            (SELECT competitor_price, 1 AS pick FROM {prices} h
             WHERE h.product_id = c.product_id AND h.competitor_name = c.competitor_name
               AND h.event_time > now() - make_interval(hours => %(window_h)s)
             ORDER BY h.event_time LIMIT 1)
        ) candidates
        ORDER BY pick LIMIT 1
    ) before
    WHERE c.event_time >= now() - make_interval(secs => %(staleness_s)s) AND NOT c.held
    ORDER BY c.product_id, c.competitor_name
    """
).format(
    gate=GATE_SQL,
    products=sql.Identifier(tables.PRODUCTS),
    prices=sql.Identifier(tables.COMPETITOR_PRICES),
)


def price_move_alert(
    product_id: str,
    product_name: str,
    competitor: str,
    before: Decimal,
    now: Decimal,
    observed_at: datetime,
    rules: AlertRules,
) -> Alert:
    change = price_move_pct(float(before), float(now))
    return Alert(
        condition_key=f"{COMPETITOR_PRICE_MOVE}:{product_id}:{competitor}",
        kind=COMPETITOR_PRICE_MOVE,
        severity=rules.price_move_severity,
        # Stays the same while the condition holds (a re-notification is the same alert, moved further).
        title=f"{competitor} moved its price of {product_id} ({product_name})",
        context={
            "product_id": product_id,
            "product_name": product_name,
            "competitor": competitor,
            "competitor_price": float(now),
            "price_before": float(before),
            "change_pct": round(change, 2),
            "window_h": rules.price_move_window_h,
            "observed_at": observed_at.isoformat(timespec="seconds"),
            "summary": f"{before:.2f} → {now:.2f} ({change:+.1f} % in {rules.price_move_window_h} h)",
        },
    )


def price_move_alerts(conn: psycopg.Connection, rules: AlertRules) -> Found:
    """A fresh competitor price at least the minimum % away, in a watched direction, from what the same
    competitor asked a window ago."""
    params = {
        "window_h": rules.price_move_window_h,
        "staleness_s": rules.competitor_staleness_s,
        **gate_params(rules.gate_jump_pct, rules.gate_market_pct, rules.gate_confirm_pct),
    }
    alerts = [
        price_move_alert(product, name, competitor, before, now, at, rules)
        for product, name, competitor, before, now, at in conn.execute(PRICE_MOVE_SQL, params).fetchall()
        if moved(float(before), float(now), rules.price_move_direction, rules.price_move_min_pct)
    ]
    return Found(alerts)


def price_moved_further(rules: AlertRules, notified: Mapping[str, Any], alert: Alert) -> bool:
    """An open price-move alert is news again when the price moved at least the minimum, in a watched
    direction, away from the price last announced; an unchanged price is not."""
    announced = notified.get("competitor_price")
    if announced is None:
        return False
    return moved(
        float(announced),
        alert.context["competitor_price"],
        rules.price_move_direction,
        rules.price_move_min_pct,
    )
