"""Alerts on stock-outs, and on stock that will run out soon at its current rate of sale."""

import dagster as dg
from psycopg import sql

from pricing_platform.alerts import Alert
from pricing_platform.db import tables
from pricing_platform.resources.alerting import AlertingResource
from pricing_platform.resources.postgres import PostgresResource

KIND = "stock"
# Velocity window: long enough to smooth out bursts, short enough to follow a product whose sales have
# just picked up or stopped.
VELOCITY_WINDOW_H = 6

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
        condition_key=f"{KIND}:{product_id}:{warehouse_id}",
        kind=KIND,
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


@dg.sensor(
    name="stock_out_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts on a product × warehouse at zero stock (critical) or running out within "
    f"ALERT_STOCKOUT_HORIZON_H at its sales rate of the last {VELOCITY_WINDOW_H} h (warning). "
    "Launches no runs.",
)
def stock_out_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource, alerting: AlertingResource
) -> dg.SkipReason:
    with postgres.connect() as conn:
        rows = conn.execute(
            AT_RISK_SQL, {"window_h": VELOCITY_WINDOW_H, "horizon_h": alerting.stockout_horizon_h}
        ).fetchall()
        result = alerting.sync(conn, KIND, [stock_alert(*row) for row in rows], context.log)
    return dg.SkipReason(result.summary("stock"))
