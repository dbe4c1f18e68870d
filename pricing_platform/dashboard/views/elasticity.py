"""Price elasticity: the elasticities learned from our own data (per category and product, with their
intervals and evidence), where our prices stand, and what following the `lower` recommendations would do
to revenue at each product's learned elasticity (the configured one where none is learned yet)."""

import plotly.express as px
import streamlit as st

from pricing_platform.dashboard import ui

ui.header(
    "Price elasticity",
    "Our price against the competitor average, and the revenue impact of following the lower "
    "recommendations.",
)

DEMAND_HINT = "The hourly `demand_estimates` asset learns them from the landed views and purchases."

st.subheader("Learned demand")
estimates = ui.load("demand_estimates")
if ui.has_rows(estimates, "Learned elasticities", DEMAND_HINT):
    level = float(estimates["ci_level"].iloc[0])
    categories = estimates[estimates["scope"] == "category"]
    columns = st.columns(max(1, len(categories)))
    for column, (_, row) in zip(columns, categories.iterrows(), strict=False):
        column.metric(
            row["subject"],
            f"{row['elasticity']:.2f}",
            help=f"{level:.0%} interval [{row['ci_low']:.2f}, {row['ci_high']:.2f}]; {row['source']}; "
            f"{row['purchases']:,} purchases; {row['note']}",
        )
    st.caption(
        f"{level:.0%} intervals; estimated {estimates['estimated_at'].max():%Y-%m-%d %H:%M %Z} from "
        f"{estimates['window_start'].min():%Y-%m-%d} to {estimates['window_end'].max():%Y-%m-%d}. "
        "Source: own (the product's price moves), shrunk (towards its category), category (borrowed: "
        "not enough price variation), prior (no price moved at all)."
    )
    products = estimates[estimates["scope"] == "product"].assign(
        minus=lambda f: f["elasticity"] - f["ci_low"], plus=lambda f: f["ci_high"] - f["elasticity"]
    )
    st.plotly_chart(
        px.scatter(
            products, x="elasticity", y="subject", color="category", error_x="plus", error_x_minus="minus",
            hover_data=["source", "purchases", "price_sd_pct", "note"],
            title=f"Elasticity per product ({level:.0%} interval)",
        ),
        width="stretch",
    )  # fmt: skip
    st.dataframe(
        estimates.drop(columns=["ci_level", "window_start", "window_end", "estimated_at"]),
        hide_index=True,
        width="stretch",
    )

st.subheader("Price position and the lower recommendations")
summary = ui.load("elasticity_summary")
position = ui.load("price_position")
if ui.has_rows(summary, "Elasticity simulation", ui.ANALYTICS_HINT) and ui.has_rows(
    position, "Price position", ui.ANALYTICS_HINT
):
    elasticity = float(summary["elasticity"].iloc[0])
    impact = float(summary["revenue_impact"].sum())
    lowers = summary[summary["recommendation"] == "lower"]
    left, middle, right = st.columns(3)
    left.metric(
        "Elasticity",
        f"{elasticity:.2f}",
        help="of the first group below, weighted by purchases: each product's learned estimate, "
        "ANALYTICS_ELASTICITY where there is none (column elasticity_source)",
    )
    middle.metric("Products to lower", int(lowers["products"].sum()) if not lowers.empty else 0)
    right.metric("Revenue impact of following them", f"{impact:+,.2f}")
    st.caption(f"computed {summary['computed_at'].max():%Y-%m-%d %H:%M %Z}")
    st.plotly_chart(
        px.histogram(
            position.dropna(subset=["price_gap_pct"]),
            x="price_gap_pct",
            nbins=20,
            color="recommendation",
            title="Our price vs competitor average (gap %)",
        ),
        width="stretch",
    )
    st.plotly_chart(
        px.pie(summary, names="recommendation", values="products", title="Recommendation split"),
        width="stretch",
    )
    st.plotly_chart(
        px.scatter(
            position,
            x="competitor_avg_price",
            y="our_price",
            color="recommendation",
            hover_name="product_name",
            title="Our price vs competitor average",
        ),
        width="stretch",
    )
    st.dataframe(position.drop(columns="computed_at"), hide_index=True, width="stretch")
