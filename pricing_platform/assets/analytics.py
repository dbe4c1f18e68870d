"""The four analyses as assets of the `analytics` group: each reads its inputs from the dbt staging views
and marts with bounded, aggregating SQL, computes with the pure functions of pricing_platform/analytics/,
and replaces its `analytics_*` tables in one transaction. `analytics_job` runs all four every 15 minutes.

pandas is imported inside the asset bodies only: this module is loaded with the definitions by every run,
including the pricing engine's minute runs, which must not pay for pandas."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from pricing_platform.assets.scheduling import asset_job, schedule
from pricing_platform.core import tables
from pricing_platform.core.catalog import Category
from pricing_platform.resources.analytics import AnalyticsResource
from pricing_platform.resources.postgres import PostgresResource

if TYPE_CHECKING:
    import pandas as pd

ANALYTICS_GROUP = "analytics"
OWNERS = ["team:analytics"]
KINDS = {"postgres", "python"}


@contextmanager
def _explained_failures() -> Iterator[None]:
    """A missing dbt model fails the run with what to do, not a driver traceback."""
    from pricing_platform.analytics import store

    try:
        yield
    except store.MissingModelError as exc:
        raise dg.Failure(description=str(exc)) from exc


def _json(keys: "pd.Series", values: "pd.Series") -> dg.JsonMetadataValue:
    return dg.MetadataValue.json({str(k): v for k, v in zip(keys.tolist(), values.tolist(), strict=True)})


def _result(
    context: dg.AssetExecutionContext, frames: Mapping[str, "pd.DataFrame"], metadata: dict[str, object]
) -> dg.MaterializeResult:
    rows = {f"rows/{table}": len(frame) for table, frame in frames.items()}
    context.log.info("%s: %s", context.asset_key.to_user_string(), rows)
    return dg.MaterializeResult(metadata={**metadata, **rows})  # type: ignore[arg-type]


@dg.asset(
    name="analytics_funnel",
    group_name=ANALYTICS_GROUP,
    deps=["stg_clickstream"],
    kinds=KINDS,
    owners=OWNERS,
    description="Conversion funnel of the sessions of the last ANALYTICS_FUNNEL_WINDOW_H hours: unique "
    "sessions per stage and the steepest drop-off (analytics_funnel_stages), by device × category "
    "(analytics_funnel_breakdown), converted vs non-converted sessions (analytics_session_profiles).",
)
def analytics_funnel(
    context: dg.AssetExecutionContext, postgres: PostgresResource, analytics: AnalyticsResource
) -> dg.MaterializeResult:
    from pricing_platform.analytics import funnel, store

    params, as_of = analytics, datetime.now(UTC)
    with _explained_failures(), postgres.connect() as conn:
        sessions, session_categories = store.read_funnel_inputs(conn, params, as_of)
        stages = funnel.funnel_stages(sessions)
        frames = {
            tables.ANALYTICS_FUNNEL_STAGES: stages,
            tables.ANALYTICS_FUNNEL_BREAKDOWN: funnel.funnel_breakdown(sessions, session_categories),
            tables.ANALYTICS_SESSION_PROFILES: funnel.session_profiles(sessions),
        }
        store.replace_tables(conn, frames, as_of)
    converted = int(sessions["purchase"].sum()) if len(sessions) else 0
    return _result(
        context,
        frames,
        {
            "window_h": params.funnel_window_h,
            "sessions": len(sessions),
            "converted_sessions": converted,
            "conversion_pct": round(converted / len(sessions) * 100, 2) if len(sessions) else None,
            "steepest_drop_off": funnel.steepest_drop(stages) or "no sessions in the window",
            "sessions_per_stage": _json(stages["stage"], stages["sessions"]),
        },
    )


@dg.asset(
    name="analytics_elasticity",
    group_name=ANALYTICS_GROUP,
    deps=["pricing_analysis", "stg_competitor_prices", "stg_clickstream"],
    kinds=KINDS,
    owners=OWNERS,
    description="Price position per product against the fresh competitor average with the latest "
    "recommendation, and the simulated revenue of following the `lower` recommendations at each product's "
    "learned elasticity (demand_estimates; ANALYTICS_ELASTICITY where none) on the last "
    "ANALYTICS_LOOKBACK_DAYS days' purchases (analytics_price_position); "
    "the recommendation split (analytics_elasticity_summary); the competitor × product price index "
    "(analytics_competitor_landscape).",
)
def analytics_elasticity(
    context: dg.AssetExecutionContext, postgres: PostgresResource, analytics: AnalyticsResource
) -> dg.MaterializeResult:
    from pricing_platform.analytics import elasticity, store

    params, as_of = analytics, datetime.now(UTC)
    with _explained_failures(), postgres.connect() as conn:
        products, quantities, latest = store.read_elasticity_inputs(conn, params, as_of)
        position = elasticity.price_position(products, quantities, params.elasticity)
        summary = elasticity.elasticity_summary(position, params.elasticity)
        landscape = elasticity.competitor_landscape(latest, products[["product_id", "our_price"]])
        frames = {
            tables.ANALYTICS_PRICE_POSITION: position,
            tables.ANALYTICS_ELASTICITY_SUMMARY: summary,
            tables.ANALYTICS_COMPETITOR_LANDSCAPE: landscape,
        }
        store.replace_tables(conn, frames, as_of)
    lower = summary.set_index("recommendation").loc["lower"]
    undercut = landscape[landscape["is_fresh"] & (landscape["price_index"] < 100)]
    gaps = position["gap_bucket"].value_counts()
    return _result(
        context,
        frames,
        {
            "elasticity": params.elasticity,
            "products": len(position),
            "lower_recommendations": int(lower["products"]),
            "lower_revenue_impact": round(float(lower["revenue_impact"]), 2),
            "recommendation_split": _json(summary["recommendation"], summary["products"]),
            "gap_distribution": _json(gaps.index.to_series(), gaps),
            "most_undercutting_competitor": (
                str(undercut["competitor_name"].value_counts().idxmax()) if len(undercut) else "none"
            ),
        },
    )


@dg.asset(
    name="analytics_rfm",
    group_name=ANALYTICS_GROUP,
    deps=["stg_clickstream"],
    kinds=KINDS,
    owners=OWNERS,
    description="RFM segmentation of the buyers of the last ANALYTICS_RFM_LOOKBACK_DAYS days: quintile "
    "scores and segment per buyer (analytics_rfm_customers), customers and revenue per segment "
    "(analytics_rfm_segments). Rules: pricing_platform/analytics/rfm.py.",
)
def analytics_rfm(
    context: dg.AssetExecutionContext, postgres: PostgresResource, analytics: AnalyticsResource
) -> dg.MaterializeResult:
    from pricing_platform.analytics import rfm, store

    params, as_of = analytics, datetime.now(UTC)
    with _explained_failures(), postgres.connect() as conn:
        customers = rfm.rfm_customers(store.read_buyers(conn, params, as_of), as_of)
        segments = rfm.rfm_segments(customers)
        frames = {tables.ANALYTICS_RFM_CUSTOMERS: customers, tables.ANALYTICS_RFM_SEGMENTS: segments}
        store.replace_tables(conn, frames, as_of)
    by_segment = segments.set_index("segment")
    return _result(
        context,
        frames,
        {
            "lookback_days": params.rfm_lookback_days,
            "buyers": len(customers),
            "segment_sizes": _json(segments["segment"], segments["customers"]),
            "at_risk_customers": int(by_segment.loc["At Risk", "customers"]),
            "at_risk_revenue": round(float(by_segment.loc["At Risk", "revenue"]), 2),
        },
    )


@dg.asset(
    name="analytics_demand_forecast",
    group_name=ANALYTICS_GROUP,
    deps=["stg_clickstream", "stg_inventory", "stg_inventory_state", "stg_products"],
    kinds=KINDS,
    owners=OWNERS,
    description="Hourly purchases per category over the last ANALYTICS_LOOKBACK_DAYS days with 1 h and 3 h "
    "moving averages (analytics_demand_hourly), the hour × weekday heatmap (analytics_demand_heatmap), a "
    "6-hour Holt forecast per category with decay ANALYTICS_FORECAST_DECAY (analytics_demand_forecast), "
    "and hours until stock-out per product with Critical/Warning flags (analytics_stockout_risk).",
)
def analytics_demand_forecast(
    context: dg.AssetExecutionContext, postgres: PostgresResource, analytics: AnalyticsResource
) -> dg.MaterializeResult:
    from pricing_platform.analytics import forecast, store

    params, as_of = analytics, datetime.now(UTC)
    with _explained_failures(), postgres.connect() as conn:
        hourly_counts, stock = store.read_demand_inputs(conn, params, as_of)
        hourly = forecast.hourly_demand(hourly_counts, [c.value for c in Category], store.current_hour(as_of))
        predicted = forecast.demand_forecast(hourly, params.forecast_decay)
        risk = forecast.stockout_risk(
            stock, params.velocity_window_h, params.stockout_critical_h, params.stockout_warning_h
        )
        frames = {
            tables.ANALYTICS_DEMAND_HOURLY: hourly,
            tables.ANALYTICS_DEMAND_HEATMAP: forecast.demand_heatmap(hourly),
            tables.ANALYTICS_DEMAND_FORECAST: predicted,
            tables.ANALYTICS_STOCKOUT_RISK: risk,
        }
        store.replace_tables(conn, frames, as_of)
    critical = risk[risk["risk"] == forecast.CRITICAL]
    next_hour = predicted[predicted["horizon_h"] == 1]
    return _result(
        context,
        frames,
        {
            "forecast_decay": params.forecast_decay,
            "hours": int(hourly["hour"].nunique()) if len(hourly) else 0,
            "critical_products": len(critical),
            "warning_products": int((risk["risk"] == forecast.WARNING).sum()),
            "critical": dg.MetadataValue.md(_critical_table(critical)),
            "next_hour_forecast": _json(next_hour["category"], next_hour["forecast_purchases"].round(2)),
        },
    )


def _critical_table(critical: "pd.DataFrame") -> str:
    if critical.empty:
        return "no product runs out within ANALYTICS_STOCKOUT_CRITICAL_H"
    lines = ["| product | stock | units/h | hours left |", "| --- | --- | --- | --- |"]
    for row in critical.itertuples():
        hours = "out of stock" if row.total_stock == 0 else f"{row.hours_until_stockout:.1f}"
        lines.append(f"| {row.product_id} {row.product_name} | {row.total_stock} | {row.hourly_velocity:.2f} "
                     f"| {hours} |")  # fmt: skip
    return "\n".join(lines)


analytics_assets = [analytics_funnel, analytics_elasticity, analytics_rfm, analytics_demand_forecast]

# One process for the four: pandas is imported once, and the 2-core host runs one step at a time anyway.
analytics_job = asset_job(
    "analytics_job",
    dg.AssetSelection.assets(*analytics_assets),
    "Recomputes the four analyses (funnel, elasticity, RFM, demand forecast) and their tables.",
)
analytics_schedule = schedule(
    "analytics_every_15_minutes",
    analytics_job,
    # Minutes 7, 22, 37 and 52: clear of the 5-minute dbt and quality runs, so they do not compete for
    # the cores, and two minutes after a marts build the elasticity analysis reads.
    "7-59/15 * * * *",
    description="Recomputes the analytics tables every 15 minutes; skips a tick while the previous run "
    "still runs.",
    skip_while_running=True,
)
