"""Funnel: sessions reaching each stage, by category (dbt mart) and by device (analytics)."""

import plotly.express as px
import streamlit as st

from pricing_platform.dashboard import ui

ui.header("Funnel", "Sessions reaching each stage: page view → product view → add to cart → purchase.")


@st.fragment(run_every=ui.refresh_interval())
def live() -> None:
    stages = ui.load("funnel_stages")
    if ui.has_rows(stages, "Funnel stages", ui.ANALYTICS_HINT):
        steepest = stages[stages["is_steepest_drop"]]
        if not steepest.empty:
            row = steepest.iloc[0]
            st.metric(
                "Steepest drop-off",
                f"into {row['stage']}",
                f"-{row['drop_off_pct']:.1f} % of sessions",
                delta_color="inverse",
            )
        st.plotly_chart(px.funnel(stages, x="sessions", y="stage", title="All sessions"), width="stretch")

    by_category = ui.load("funnel_by_category", marts_schema=ui.settings().dbt_marts_schema, days=7)
    if ui.has_rows(by_category, "Funnel by category", ui.MARTS_HINT):
        long = by_category.melt(
            id_vars="category",
            value_vars=["sessions", "viewed", "carted", "converted"],
            var_name="stage",
            value_name="count",
        )
        st.plotly_chart(
            px.bar(
                long,
                x="category",
                y="count",
                color="stage",
                barmode="group",
                title="Sessions by stage and category, last 7 days",
            ),
            width="stretch",
        )

    breakdown = ui.load("funnel_breakdown")
    if ui.has_rows(breakdown, "Funnel by device", ui.ANALYTICS_HINT):
        # One panel per category: a session that reached two categories is in both, so categories
        # must not be summed.
        st.plotly_chart(
            px.bar(
                breakdown,
                x="stage",
                y="sessions",
                color="device_type",
                barmode="group",
                facet_col="category",
                facet_col_wrap=3,
                title="Sessions by stage and device, per category",
            ),
            width="stretch",
        )

    profiles = ui.load("session_profiles")
    if ui.has_rows(profiles, "Session profiles", ui.ANALYTICS_HINT):
        st.subheader("Converted vs non-converted sessions")
        st.dataframe(profiles, hide_index=True, width="stretch")


live()
