"""Overview: is data flowing, what is it earning, what does the engine say, what needs attention."""

import plotly.express as px
import streamlit as st

from pricing_platform.dashboard import ui

ui.header(
    "Overview",
    "Live: events landing per stream, today's revenue and conversion, the latest pricing cycle, open alerts.",
)


@st.fragment(run_every=ui.refresh_interval())
def live() -> None:
    throughput = ui.load("throughput", minutes=30)
    if ui.has_rows(throughput, "Events per minute", ui.INGEST_HINT):
        latest_minute = throughput["minute"].max()
        # The current minute is still filling: report the last complete one.
        complete = throughput[throughput["minute"] < latest_minute]
        last = complete[complete["minute"] == complete["minute"].max()] if not complete.empty else throughput
        columns = st.columns(3)
        for column, stream in zip(columns, ("clickstream", "inventory", "competitor"), strict=True):
            events = int(last.loc[last["stream"] == stream, "events"].sum())
            column.metric(f"{stream} events/min", f"{events:,}")
        chart = px.line(throughput, x="minute", y="events", color="stream", title="Events landed per minute")
        st.plotly_chart(chart, use_container_width=True)

    today = ui.load("revenue_and_conversion", marts_schema=ui.settings().dbt_marts_schema)
    if ui.has_rows(today, "Revenue and conversion", ui.MARTS_HINT):
        row = today.iloc[0]
        revenue, conversion, purchases = st.columns(3)
        revenue.metric("Revenue today (UTC)", f"{row['revenue']:,.2f}")
        sessions = int(row["sessions"])
        rate = row["converted_sessions"] / sessions * 100 if sessions else 0.0
        conversion.metric("Session conversion today", f"{rate:.1f} %")
        purchases.metric("Purchases today", f"{int(row['purchases']):,}")

    counts = ui.load("recommendation_counts")
    if ui.has_rows(counts, "Recommendations", ui.PRICING_HINT):
        st.subheader("Latest pricing cycle")
        columns = st.columns(len(counts))
        for column, (_, row) in zip(columns, counts.iterrows(), strict=True):
            column.metric(f"{row['recommendation']}", int(row["products"]))
        st.caption(f"cycle at {counts['cycle_at'].max():%Y-%m-%d %H:%M:%S %Z}")

    st.subheader("Open alerts")
    alerts = ui.load("open_alerts")
    if alerts is not None and alerts.empty:
        st.success("No open alerts.")
    elif ui.has_rows(alerts, "Alerts", "The alert sensors run every minute."):
        st.metric("Open alerts", len(alerts), help="critical first")
        st.dataframe(alerts, hide_index=True, use_container_width=True)


live()
