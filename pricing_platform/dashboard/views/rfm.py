"""RFM segmentation of buyers: recency, frequency and monetary quintile scores, segments, revenue."""

import plotly.express as px
import streamlit as st

from pricing_platform.dashboard import ui

ui.header(
    "Customer segments (RFM)",
    "Buyers scored 1–5 on recency, frequency and monetary value, grouped into segments.",
)

segments = ui.load("rfm_segments")
if ui.has_rows(segments, "RFM segments", ui.ANALYTICS_HINT):
    customers, revenue, top = st.columns(3)
    customers.metric("Buyers", f"{int(segments['customers'].sum()):,}")
    revenue.metric("Revenue", f"{segments['revenue'].sum():,.2f}")
    best = segments.iloc[0]
    top.metric(
        "Top segment by revenue",
        best["segment"],
        f"{best['revenue_share_pct']:.1f} % of revenue",
        delta_color="off",
    )
    st.plotly_chart(px.bar(segments, x="segment", y="revenue", title="Revenue per segment"), width="stretch")
    scores = ui.load("rfm_scores")
    if ui.has_rows(scores, "RFM scores", ui.ANALYTICS_HINT):
        grid = scores.pivot_table(index="r_score", columns="f_score", values="customers", fill_value=0)
        st.plotly_chart(
            px.imshow(
                grid,
                labels={"x": "frequency score", "y": "recency score", "color": "buyers"},
                text_auto=True,
                title="Buyers by recency × frequency score",
            ),
            width="stretch",
        )
    st.dataframe(segments.drop(columns="computed_at"), hide_index=True, width="stretch")
