"""Alerts on competitors far below our current price on products that are not selling."""

from datetime import datetime
from decimal import Decimal

import dagster as dg
from psycopg import sql

from pricing_platform.alerts import Alert
from pricing_platform.db import tables
from pricing_platform.resources.alerting import AlertingResource
from pricing_platform.resources.postgres import PostgresResource

KIND = "competitor_undercut"

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
        condition_key=f"{KIND}:{product_id}:{competitor}",
        kind=KIND,
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


@dg.sensor(
    name="competitor_undercut_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts when a competitor is more than ALERT_UNDERCUT_PCT % below our current price on a "
    "product with fewer than ALERT_WEAK_DEMAND_VELOCITY purchases in the last hour. Launches no runs.",
)
def competitor_undercut_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource, alerting: AlertingResource
) -> dg.SkipReason:
    params = {
        "staleness_s": alerting.competitor_staleness_s,
        "undercut_pct": alerting.undercut_pct,
        "weak_velocity": alerting.weak_demand_velocity,
    }
    with postgres.connect() as conn:
        rows = conn.execute(UNDERCUT_SQL, params).fetchall()
        alerts = [undercut_alert(*row) for row in rows]
        result = alerting.sync(conn, KIND, alerts, context.log)
    return dg.SkipReason(result.summary("competitor undercut"))
