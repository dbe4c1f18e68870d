"""Overview: is data flowing, what is it earning, what does the engine say, what needs attention."""

import plotly.express as px
import streamlit as st

from pricing_platform.core.catalog import Stream
from pricing_platform.dashboard import ui

ui.header(
    "Overview",
    "Live: events landing per stream, today's revenue and conversion, shoppers per minute and abandoned "
    "carts, the latest pricing cycle, open alerts.",
)


@st.fragment(run_every=ui.refresh_interval())
def live() -> None:
    throughput = ui.load("throughput", minutes=30)
    if throughput is not None and throughput["events"].sum() == 0:
        throughput = throughput.iloc[0:0]  # nothing landed in the window: say so rather than draw zeros
    if ui.has_rows(throughput, "Events per minute", ui.INGEST_HINT):
        latest_minute = throughput["minute"].max()
        # The current minute is still filling: report the last complete one.
        complete = throughput[throughput["minute"] < latest_minute]
        last = complete[complete["minute"] == complete["minute"].max()] if not complete.empty else throughput
        columns = st.columns(3)
        for column, stream in zip(columns, Stream, strict=True):
            events = int(last.loc[last["stream"] == stream.value, "events"].sum())
            column.metric(f"{stream.value} events/min", f"{events:,}")
        chart = px.line(throughput, x="minute", y="events", color="stream", title="Events landed per minute")
        st.plotly_chart(chart, width="stretch")

    revenue, purchases, conversion = st.columns(3)
    today = ui.load("revenue_and_conversion", marts_schema=ui.settings().dbt_marts_schema)
    if ui.has_rows(today, "Revenue today", ui.MARTS_HINT):
        row = today.iloc[0]
        revenue.metric("Revenue today (UTC)", f"{row['revenue']:,.2f}")
        purchases.metric("Purchases today", f"{int(row['purchases']):,}")
    # Distinct sessions: the daily mart counts a session once per category it reached, so its sums
    # overstate conversion; the funnel analytics count each session once.
    stages = ui.load("funnel_stages")
    if stages is not None and not stages.empty and stages["sessions"].iloc[0] > 0:
        rate = stages["sessions"].iloc[-1] / stages["sessions"].iloc[0] * 100
        conversion.metric(
            "Session conversion (24 h)", f"{rate:.1f} %", help="sessions that purchased / sessions"
        )

    shoppers()

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
        st.metric(
            "Open alerts", int(alerts["open_total"].iloc[0]), help="critical first; the newest 50 listed"
        )
        st.dataframe(alerts.drop(columns="open_total"), hide_index=True, width="stretch")


def shoppers() -> None:
    """What the stream processor derives from the clickstream: the funnel per minute and abandoned carts."""
    st.subheader("Shoppers per minute")
    funnel = ui.load("funnel_per_minute", minutes=60)
    if ui.has_rows(funnel, "Funnel per minute", STREAM_HINT):
        # Each clickstream partition closes its minutes on its own: the newest minute may still miss
        # products, the one before it is complete.
        minutes = sorted(funnel["minute"].unique())
        last = funnel[funnel["minute"] == minutes[-2 if len(minutes) > 1 else -1]]
        columns = st.columns(3)
        for column, (name, label) in zip(
            columns,
            [("views", "product views"), ("cart_adds", "cart adds"), ("purchases", "purchases")],
            strict=True,
        ):
            column.metric(f"{label} in the last complete minute", f"{int(last[name].sum()):,}")
        chart = px.line(
            funnel, x="minute", y="views", color="category", markers=True, title="Product views per minute"
        )
        st.plotly_chart(chart, width="stretch")

    min_carts = ui.settings().stream_abandon_min_carts
    rates = ui.load("cart_abandonment", min_carts=min_carts, hours=24)
    if ui.has_rows(rates, "Cart abandonment", STREAM_HINT) and int(rates["sessions"].iloc[0]):
        row = rates.iloc[0]
        rate, count = st.columns(2)
        share = row["abandoned"] / row["cart_sessions"] * 100 if row["cart_sessions"] else 0.0
        rate.metric(
            "Cart abandonment (24 h)",
            f"{share:.1f} %",
            help=f"of the sessions that added {min_carts}+ items to the cart, the share that bought nothing",
        )
        count.metric("Abandoned carts (24 h)", f"{int(row['abandoned']):,}")
        top = ui.load("top_abandoned_products", hours=24)
        if top is not None and not top.empty:
            st.caption("Products most often left in abandoned carts (24 h)")
            st.dataframe(top, hide_index=True, width="stretch")


STREAM_HINT = (
    "The stream processor publishes a minute once it has closed and a session 2 × "
    "STREAM_SESSION_GAP_S + STREAM_GRACE_S after its last event (`pricing-platform stream-processor`, "
    "run by `make up`)."
)

live()
