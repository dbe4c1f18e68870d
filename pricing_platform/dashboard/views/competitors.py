"""Competitors: where each competitor's latest price stands against ours, who undercuts most, and the
undercuts the platform repriced within seconds."""

import plotly.express as px
import streamlit as st

from pricing_platform.dashboard import ui

ui.header(
    "Competitors",
    "Price index = competitor's latest price / our price now × 100 (below 100: they are cheaper).",
)


@st.fragment(run_every=ui.refresh_interval())
def live() -> None:
    max_age_s = ui.settings().pricing_staleness_s
    landscape = ui.load("competitor_landscape", max_age_s=max_age_s)
    hint = (
        f"Only prices observed in the last {max_age_s / 3600:g} h count (PRICING_STALENESS_S). "
        + ui.INGEST_HINT
    )
    if not ui.has_rows(landscape, "Competitor prices", hint):
        return
    grid = landscape.pivot_table(index="competitor_name", columns="product_id", values="price_index")
    heatmap = px.imshow(
        grid,
        color_continuous_scale="RdYlGn",
        color_continuous_midpoint=100,
        aspect="auto",
        labels={"color": "price index"},
        title="Price index, competitor × product",
    )
    st.plotly_chart(heatmap, width="stretch")

    st.subheader("Who undercuts most")
    landscape["undercuts"] = landscape["price_index"] < 100
    landscape["gap_pct"] = 100 - landscape["price_index"]
    ranking = (
        landscape.groupby("competitor_name")
        .agg(
            products_cheaper=("undercuts", "sum"),
            products_seen=("product_id", "count"),
            avg_discount_pct=("gap_pct", lambda s: s[s > 0].mean() if (s > 0).any() else 0.0),
            deepest_discount_pct=("gap_pct", "max"),
        )
        .sort_values(["products_cheaper", "avg_discount_pct"], ascending=False)
        .reset_index()
    )
    leader = ranking.iloc[0]
    st.metric(
        "Undercuts most",
        leader["competitor_name"],
        f"cheaper on {int(leader['products_cheaper'])} of {int(leader['products_seen'])} products",
        delta_color="off",
    )
    st.dataframe(ranking.round(2), hide_index=True, width="stretch")

    st.subheader("Undercuts repriced, last 24 h")
    undercuts = ui.load("recent_undercuts")
    threshold = ui.settings().undercut_pct
    if not ui.has_rows(
        undercuts,
        "Undercuts",
        f"The stream processor reports a competitor more than {threshold:g} % below our price "
        "(UNDERCUT_PCT); the repricer then reprices that product at once. `up` runs both.",
    ):
        return
    decided = undercuts["decided_after_s"].dropna()
    if not decided.empty:
        st.caption(
            f"{len(undercuts)} undercut moves; median {decided.median():.1f} s from the competitor's "
            "observation to our recommendation."
        )
    st.dataframe(undercuts.round(2), hide_index=True, width="stretch")


live()
