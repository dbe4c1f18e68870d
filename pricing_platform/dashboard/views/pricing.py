"""Pricing: the latest recommendation per product, its price history against each competitor, and the
approval of a recommendation (as the approver role; every approval lands in the audit trail)."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pricing_platform.dashboard import ui
from pricing_platform.dashboard.approvals import ApprovalRefused, approve

ui.header(
    "Pricing",
    "What the engine recommends for each product, why, and what bound it. Approving applies the price.",
)

recommendations = ui.load("latest_recommendations")
if ui.has_rows(recommendations, "Recommendations", ui.PRICING_HINT):
    shown = recommendations[
        [
            "product_id", "product_name", "price_now", "recommendation", "recommended_price", "confidence",
            "guardrail", "competitor_avg", "gap_pct", "reason", "created_at", "approved",
        ]
    ]  # fmt: skip
    st.dataframe(
        shown,
        hide_index=True,
        use_container_width=True,
        column_config={
            "confidence": st.column_config.ProgressColumn(
                "confidence", min_value=0.0, max_value=1.0, format="%.2f"
            ),
            "reason": st.column_config.TextColumn("reason", width="large"),
        },
    )

    st.subheader("Approve a recommendation")
    actionable = recommendations[(recommendations["recommendation"] != "hold") & ~recommendations["approved"]]
    if actionable.empty:
        st.info("Nothing to approve: every latest recommendation holds the price or is approved already.")
    else:
        labels = {
            int(row.recommendation_id): (
                f"{row.product_id} {row.product_name}: {row.recommendation} "
                f"{row.priced_from:,.2f} → {row.recommended_price:,.2f} (confidence {row.confidence:.2f})"
            )
            for row in actionable.itertuples()
        }
        choice = st.selectbox(
            "Recommendation", list(labels), format_func=labels.__getitem__, key="approve_choice"
        )
        analyst = st.text_input("Your name (recorded in the audit trail)", key="analyst")
        note = st.text_input("Note (optional)", key="approve_note")
        if st.button("Approve price change", key="approve", type="primary"):
            if not analyst.strip():
                st.error("Enter your name first: every approval records who made it.")
            else:
                try:
                    change = approve(ui.settings().approvals_conninfo, choice, analyst, note)
                except ApprovalRefused as refused:
                    st.error(f"Not approved: {refused}")
                else:
                    st.cache_data.clear()
                    st.success(
                        f"Approved by {change.approved_by}: {change.product_id} is now "
                        f"{change.new_price:,.2f} "
                        f"(was {change.old_price:,.2f}). The next pricing cycle works from the new price."
                    )

    st.subheader("Price history")
    products = recommendations.set_index("product_id")["product_name"].to_dict()
    product_id = st.selectbox(
        "Product", list(products), format_func=lambda p: f"{p} {products[p]}", key="history_product"
    )
    ours = ui.load("our_price_history", product_id=product_id, hours=24)
    theirs = ui.load("competitor_price_history", product_id=product_id, hours=24)
    figure = go.Figure()
    if ours is not None and not ours.empty:
        figure.add_scatter(x=ours["at"], y=ours["price"], name="our price", line={"width": 3, "shape": "hv"})
    if theirs is not None and not theirs.empty:
        for competitor, rows in theirs.groupby("competitor_name"):
            figure.add_scatter(x=rows["at"], y=rows["price"], name=str(competitor), mode="lines")
    figure.update_layout(
        title=f"{product_id} {products[product_id]}: last 24 h (5-minute averages)", yaxis_title="price"
    )
    st.plotly_chart(figure, use_container_width=True)

st.subheader("Audit trail")
changes = ui.load("price_changes")
if ui.has_rows(changes, "Approved price changes", "Approve a recommendation above; it is recorded here."):
    st.dataframe(pd.DataFrame(changes), hide_index=True, use_container_width=True)
