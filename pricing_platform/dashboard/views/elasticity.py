"""Price elasticity simulation: where our prices stand, and what following the `lower` recommendations
would do to revenue at the configured elasticity."""

import plotly.express as px
import streamlit as st

from pricing_platform.dashboard import ui

ui.header(
    "Price elasticity",
    "Our price against the competitor average, and the revenue impact of following the lower "
    "recommendations.",
)

summary = ui.load("elasticity_summary")
position = ui.load("price_position")
if ui.has_rows(summary, "Elasticity simulation", ui.ANALYTICS_HINT) and ui.has_rows(
    position, "Price position", ui.ANALYTICS_HINT
):
    elasticity = float(summary["elasticity"].iloc[0])
    impact = float(summary["revenue_impact"].sum())
    lowers = summary[summary["recommendation"] == "lower"]
    left, middle, right = st.columns(3)
    left.metric("Elasticity", f"{elasticity:.2f}", help="ANALYTICS_ELASTICITY")
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
