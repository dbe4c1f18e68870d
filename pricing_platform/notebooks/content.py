"""What the four notebooks say and compute: markdown explanations and code cells over the analytics
tables (the setup cell shared by all four, `read_table`, `no_data`, `px`, is added by `build`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NotebookSpec:
    name: str
    title: str
    intro: str
    cells: tuple[tuple[str, str], ...]  # ("md" | "code", source)


FUNNEL = NotebookSpec(
    name="funnel",
    title="Conversion funnel",
    intro="""Where shoppers drop out between landing on a page and buying, from the sessions of the last
`ANALYTICS_FUNNEL_WINDOW_H` hours (24 by default). Written by the Dagster asset `analytics_funnel` into
`analytics_funnel_stages`, `analytics_funnel_breakdown` and `analytics_session_profiles`; the computation is
`pricing_platform/analytics/funnel.py`.""",
    cells=(
        (
            "md",
            """## Sessions per stage

A session counts at a stage when it has at least one event of that type (page_view → product_view →
add_to_cart → purchase). **Drop-off** = 1 − sessions at this stage / sessions at the previous stage; the
stage with the largest drop-off is where most shoppers are lost.""",
        ),
        (
            "code",
            """stages = read_table(DATABASE_URL, "analytics_funnel_stages", ("stage_order",))
if not no_data(stages, "funnel"):
    display(stages.drop(columns="computed_at"))
    steepest = stages[stages["is_steepest_drop"]]
    if len(steepest):
        row = steepest.iloc[0]
        print(f"Steepest drop-off: into {row['stage']}, {row['drop_off_pct']:.1f} % of sessions lost")
    px.funnel(stages, x="sessions", y="stage", title="Unique sessions per funnel stage").show()""",
        ),
        (
            "md",
            """## By device and category

A session counts in every category it reached through a product (its product-less page views count in
those categories too); sessions that only saw product-less pages are `unattributed`. Sessions add up across
devices, not across categories.""",
        ),
        (
            "code",
            """order = ("device_type", "category", "stage_order")
breakdown = read_table(DATABASE_URL, "analytics_funnel_breakdown", order)
if not no_data(breakdown, "funnel breakdown"):
    px.bar(
        breakdown, x="stage", y="sessions", color="device_type", facet_col="category", facet_col_wrap=3,
        barmode="group", title="Sessions per stage by device and category",
    ).show()""",
        ),
        (
            "md",
            """## Converted vs non-converted sessions

Converted sessions have a purchase. Compare how many events they have, how long they last and how many
different products they look at, and on which devices they happen.""",
        ),
        (
            "code",
            """profiles = read_table(DATABASE_URL, "analytics_session_profiles", ("converted",))
if not no_data(profiles, "session profiles"):
    display(profiles.drop(columns=["computed_at", "device_mix"]))
    mix = pd.DataFrame(
        [{"converted": "converted" if p.converted else "not converted", "device": d, "share_pct": s}
         for p in profiles.itertuples() for d, s in p.device_mix.items()]
    )
    px.bar(mix, x="converted", y="share_pct", color="device", title="Device mix (% of sessions)").show()""",
        ),
    ),
)

ELASTICITY = NotebookSpec(
    name="elasticity",
    title="Price position and elasticity simulation",
    intro="""Where our prices stand against the competitors' latest fresh prices, what the pricing engine
recommends, and what following its `lower` recommendations would do to revenue. Written by the Dagster
asset `analytics_elasticity` into `analytics_price_position`, `analytics_elasticity_summary` and
`analytics_competitor_landscape` (`pricing_platform/analytics/elasticity.py`).""",
    cells=(
        (
            "md",
            """## Our price against the competitor average

**Gap** = (our price − competitor average) / competitor average × 100: positive when we are dearer.""",
        ),
        (
            "code",
            """position = read_table(DATABASE_URL, "analytics_price_position", ("product_id",))
if not no_data(position, "price position"):
    priced = position.dropna(subset=["competitor_avg_price"])
    px.scatter(
        priced, x="competitor_avg_price", y="our_price", color="recommendation", hover_name="product_name",
        title="Our price vs competitor average (the diagonal is parity)",
    ).add_shape(type="line", x0=0, y0=0, x1=priced["our_price"].max(), y1=priced["our_price"].max()).show()
    gaps = position["gap_bucket"].value_counts().rename_axis("gap").reset_index(name="products")
    px.bar(gaps, x="gap", y="products", title="Gap distribution (products)").show()""",
        ),
        (
            "md",
            """## Recommendation split and revenue impact

The simulation moves every product whose latest recommendation is `lower` to the recommended price and
scales its quantity with the product's elasticity *e*: the one learned from our own data by the hourly
`demand_estimates` asset (column `elasticity_source`: own, shrunk towards its category, borrowed from
the category, or the prior), or `ANALYTICS_ELASTICITY` (−1.5, source `setting`) before there is one:
*q₁ = q₀ × (p₁ / p₀)^e*. The quantity base *q₀* is the product's purchases over the last
`ANALYTICS_LOOKBACK_DAYS` days; current revenue *q₀ × p₀*, simulated *q₁ × p₁*.""",
        ),
        (
            "code",
            """summary = read_table(DATABASE_URL, "analytics_elasticity_summary")
if not no_data(summary, "elasticity summary"):
    display(summary.drop(columns="computed_at"))
    px.pie(summary, names="recommendation", values="products",
           title="Latest recommendation per product").show()
    lowered = position[position["recommendation"] == "lower"]
    if len(lowered):
        px.bar(lowered, x="product_name", y="revenue_impact",
               title="Revenue impact of following each lower recommendation").show()""",
        ),
        (
            "md",
            """## Competitor landscape

**Price index** = competitor price / our price × 100: below 100 the competitor undercuts us.""",
        ),
        (
            "code",
            """order = ("competitor_name", "product_id")
landscape = read_table(DATABASE_URL, "analytics_competitor_landscape", order)
if not no_data(landscape, "competitor landscape"):
    grid = landscape.pivot(index="competitor_name", columns="product_id", values="price_index")
    px.imshow(grid, color_continuous_scale="RdBu", color_continuous_midpoint=100, aspect="auto",
              title="Price index (competitor / ours × 100)").show()""",
        ),
    ),
)

RFM = NotebookSpec(
    name="rfm",
    title="RFM segmentation",
    intro="""Buyers of the last `ANALYTICS_RFM_LOOKBACK_DAYS` days scored on **recency** (days since their
last purchase), **frequency** (purchases) and **monetary** value (revenue), each as a rank-based quintile
1–5, and grouped into segments. Written by the Dagster asset `analytics_rfm` into `analytics_rfm_customers`
and `analytics_rfm_segments`; scores and rules in `pricing_platform/analytics/rfm.py`.""",
    cells=(
        (
            "md",
            """## Segments

First matching rule wins: Champions (R, F, M ≥ 4), Loyal Customers (R ≥ 3, F ≥ 4), Big Spenders (R ≥ 3,
M ≥ 4), Potential Loyalists (R ≥ 4), At Risk (R ≤ 2 with F or M ≥ 3), Lost (R ≤ 2), Needs Attention (the
rest).""",
        ),
        (
            "code",
            """segments = read_table(DATABASE_URL, "analytics_rfm_segments")
if not no_data(segments, "RFM segments"):
    display(segments.drop(columns="computed_at"))
    px.bar(segments, x="segment", y="customers", title="Customers per segment").show()
    px.bar(segments, x="segment", y="revenue", title="Revenue per segment").show()""",
        ),
        ("md", "## Buyers"),
        (
            "code",
            """customers = read_table(DATABASE_URL, "analytics_rfm_customers", ("user_id",))
if not no_data(customers, "RFM scores"):
    px.scatter(customers, x="recency_days", y="monetary", size="frequency", color="segment",
               hover_name="user_id", title="Recency vs monetary value (size: purchases)").show()
    rf = customers.groupby(["r_score", "f_score"]).size().unstack(fill_value=0)
    px.imshow(rf, labels={"x": "F score", "y": "R score", "color": "buyers"},
              title="Buyers by R × F score").show()""",
        ),
    ),
)

FORECASTING = NotebookSpec(
    name="forecasting",
    title="Demand forecasting and stock-out risk",
    intro="""Hourly purchases per category over the last `ANALYTICS_LOOKBACK_DAYS` days, their weekly rhythm,
a 6-hour forecast, and how many hours each product's stock lasts. Written by the Dagster asset
`analytics_demand_forecast` into `analytics_demand_hourly`, `analytics_demand_heatmap`,
`analytics_demand_forecast` and `analytics_stockout_risk` (`pricing_platform/analytics/forecast.py`).""",
    cells=(
        (
            "md",
            """## Hourly purchases

Complete UTC hours only (the current hour would look like a drop); hours without purchases are 0. The 3 h
moving average is the mean of the hour and the two before it.""",
        ),
        (
            "code",
            """hourly = read_table(DATABASE_URL, "analytics_demand_hourly", ("category", "hour"))
if not no_data(hourly, "hourly demand"):
    px.line(hourly, x="hour", y=["purchases", "ma_3h"], facet_row="category", height=900,
            title="Purchases per hour and 3 h moving average").show()""",
        ),
        ("md", "## Hour × weekday (UTC; 1 = Monday)"),
        (
            "code",
            """heatmap = read_table(DATABASE_URL, "analytics_demand_heatmap", ("day_of_week", "hour_of_day"))
if not no_data(heatmap, "demand heatmap"):
    grid = heatmap.pivot(index="day_of_week", columns="hour_of_day", values="purchases")
    px.imshow(grid, aspect="auto", labels={"x": "hour of day", "y": "day of week", "color": "purchases"},
              title="Purchases by weekday and hour").show()""",
        ),
        (
            "md",
            """## Next 6 hours

Holt's linear exponential smoothing with α = β = 1 − `ANALYTICS_FORECAST_DECAY` (0.15): the level is an
exponentially weighted mean of the purchases, the trend one of the level's changes;
forecast(h) = max(0, level + h × trend).""",
        ),
        (
            "code",
            """forecast = read_table(DATABASE_URL, "analytics_demand_forecast", ("category", "horizon_h"))
if not no_data(forecast, "demand forecast"):
    recent = hourly[hourly["hour"] > hourly["hour"].max() - pd.Timedelta(hours=24)]
    columns = ["category", "hour", "kind", "value"]
    observed = recent.assign(kind="observed", value=recent["purchases"])
    predicted = forecast.assign(kind="forecast", hour=forecast["forecast_hour"],
                                value=forecast["forecast_purchases"])
    series = pd.concat([observed[columns], predicted[columns]])
    px.line(series, x="hour", y="value", color="category", line_dash="kind",
            title="Last 24 h and the 6-hour forecast per category").show()""",
        ),
        (
            "md",
            """## Stock-out risk

Hours until stock-out = stock across warehouses / units sold per hour over the last
`ANALYTICS_VELOCITY_WINDOW_H` hours. **Critical** below `ANALYTICS_STOCKOUT_CRITICAL_H` (24 h), **Warning**
below `ANALYTICS_STOCKOUT_WARNING_H` (72 h).""",
        ),
        (
            "code",
            """risk = read_table(DATABASE_URL, "analytics_stockout_risk", ("risk", "product_id"))
if not no_data(risk, "stock-out risk"):
    at_risk = risk[risk["risk"] != "OK"]
    display(at_risk.drop(columns="computed_at") if len(at_risk) else "no product at risk")
    selling = risk.dropna(subset=["hours_until_stockout"])
    px.bar(selling, x="product_name", y="hours_until_stockout", color="risk",
           color_discrete_map={"Critical": "crimson", "Warning": "orange", "OK": "seagreen"},
           title="Hours until stock-out per product").show()""",
        ),
    ),
)

NOTEBOOKS: tuple[NotebookSpec, ...] = (FUNNEL, ELASTICITY, RFM, FORECASTING)
