"""Pricing: the latest recommendation per product, the review queue (approve, reject with a note, snooze;
as the approver role, every decision audited), the price history against each competitor and the audit
trail of price changes, automatic ones included."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pricing_platform.dashboard import ui
from pricing_platform.dashboard.approvals import ApprovalFailed, ApprovalRefused, approve
from pricing_platform.dashboard.policies import PolicyFailed, PolicyRefused, review_recommendation

ui.header(
    "Pricing",
    "What the engine recommends for each product, why, and what bound it. Approving applies the price.",
)

COLUMNS = [
    "product_id", "product_name", "price_now", "recommendation", "recommended_price", "confidence",
    "guardrail", "competitor_avg", "gap_pct", "reason", "created_at", "approved",
]  # fmt: skip


NOTE_KEY = "approve_note"


def _note() -> str:
    """The note as the click's own rerun carries it: a value bound when the buttons were drawn misses a
    note typed (and sent) after that rerun, and a rejection would then be refused for want of one."""
    return str(st.session_state.get(NOTE_KEY) or "")


def _approve(recommendation_id: int, label: str, analyst: str) -> None:
    """Runs on the click, with the recommendation that was on screen (never whatever a rerun with a newer
    cycle would put first in the list)."""
    try:
        change = approve(ui.settings().approvals_conninfo, recommendation_id, analyst, _note())
    except (ApprovalRefused, ApprovalFailed) as problem:
        st.session_state["approval_outcome"] = ("error", f"Not approved ({label}): {problem}")
        return
    st.cache_data.clear()  # the table and audit trail below must show the new price at once
    st.session_state["approve_choice"] = None
    st.session_state["approval_outcome"] = (
        "success",
        f"Approved by {change.approved_by}: {change.product_id} is now {change.new_price:,.2f} "
        f"(was {change.old_price:,.2f}). The next pricing cycle works from the new price.",
    )


def _review(recommendation_id: int, label: str, decision: str, analyst: str, hours: float) -> None:
    try:
        review = review_recommendation(
            ui.settings().approvals_conninfo, recommendation_id, decision, analyst, _note(),
            hours if decision == "snoozed" else None,
        )  # fmt: skip
    except (PolicyRefused, PolicyFailed) as problem:
        st.session_state["approval_outcome"] = ("error", f"Not {decision} ({label}): {problem}")
        return
    st.cache_data.clear()
    st.session_state["approve_choice"] = None
    until = f" until {review.snoozed_until:%Y-%m-%d %H:%M} UTC" if review.snoozed_until else ""
    st.session_state["approval_outcome"] = (
        "success",
        f"{review.product_id} {decision} by {analyst}{until}: it leaves the queue and is not applied "
        "automatically" + (" while snoozed." if until else " while the engine recommends the same move."),
    )


@st.fragment(run_every=ui.refresh_interval())
def recommendations_table() -> None:
    latest = ui.load("latest_recommendations")
    if ui.has_rows(latest, "Recommendations", ui.PRICING_HINT):
        st.dataframe(
            latest[COLUMNS],
            hide_index=True,
            width="stretch",
            column_config={
                "confidence": st.column_config.ProgressColumn(
                    "confidence", min_value=0.0, max_value=1.0, format="%.2f"
                ),
                "reason": st.column_config.TextColumn("reason", width="large"),
            },
        )


recommendations_table()
recommendations = ui.load("latest_recommendations")
if recommendations is not None and not recommendations.empty:
    st.subheader("Review queue")
    st.caption(
        "Raise/lower recommendations waiting for an analyst: those the category's policy did not apply "
        "automatically (the reason is shown once the cycle's checks have run), minus rejected moves and "
        "snoozed products."
    )
    outcome = st.session_state.pop("approval_outcome", None)
    if outcome:
        (st.success if outcome[0] == "success" else st.error)(outcome[1])
    queue = ui.load("review_queue")
    if queue is None or queue.empty:
        st.info("Nothing to review: every latest recommendation holds, was applied, or is held by a review.")
    else:
        st.dataframe(
            queue[["product_id", "product_name", "recommendation", "priced_from", "recommended_price",
                   "confidence", "auto_apply_detail", "reason"]],
            hide_index=True, width="stretch",
            column_config={"auto_apply_detail": st.column_config.TextColumn("why it waits", width="medium")},
        )  # fmt: skip
        labels = {
            int(row.recommendation_id): (
                f"{row.product_id} {row.product_name}: {row.recommendation} "
                f"{row.priced_from:,.2f} → {row.recommended_price:,.2f} (confidence {row.confidence:.2f})"
            )
            for row in queue.itertuples()
        }
        if st.session_state.get("approve_choice") not in labels:
            st.session_state["approve_choice"] = None  # gone with a newer cycle: never fall back to another
        choice = st.selectbox(
            "Recommendation",
            list(labels),
            placeholder="choose the recommendation to approve, reject or snooze",
            format_func=labels.__getitem__,
            key="approve_choice",
        )
        analyst = ui.analyst()
        st.text_input("Note (optional; a rejection needs one)", key=NOTE_KEY)
        ready = choice is not None and analyst is not None
        args = (choice, labels.get(choice, ""), analyst or "") if choice is not None else (0, "", "")
        approve_column, reject_column, snooze_column = st.columns(3)
        approve_column.button(
            "Approve price change", key="approve", type="primary", disabled=not ready,
            help=None if ready else "Choose a recommendation and give your name first.",
            on_click=_approve, args=args,
        )  # fmt: skip
        reject_column.button(
            "Reject", key="reject", disabled=not ready, on_click=_review, args=(*args[:2], "rejected",
            *args[2:], 0.0), help="The same move for this product is neither queued nor applied again",
        )  # fmt: skip
        hours = snooze_column.number_input("Snooze hours", min_value=1.0, max_value=720.0, value=24.0)
        snooze_column.button(
            "Snooze", key="snooze", disabled=not ready, on_click=_review,
            args=(*args[:2], "snoozed", *args[2:], hours),
        )  # fmt: skip

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
    st.plotly_chart(figure, width="stretch")

st.subheader("Audit trail")
changes = ui.load("price_changes")
if ui.has_rows(changes, "Approved price changes", "Approve a recommendation above; it is recorded here."):
    st.dataframe(pd.DataFrame(changes), hide_index=True, width="stretch")
