"""Price experiments: start a switchback A/B test on a product or a category, follow its results (units,
conversion, revenue and gross profit per arm, the uplift and the implied elasticity with their intervals),
and stop it early."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from pricing_platform.core.catalog import CATEGORY_NAMES, PRODUCTS
from pricing_platform.dashboard import experiments, ui
from pricing_platform.pricing.experiment_store import Request, summarise
from pricing_platform.pricing.experiments import ExperimentParams, ExperimentRefused
from pricing_platform.pricing.rules import PricingRules

ui.header(
    "Price experiments",
    "Time-split A/B tests: the arms alternate in blocks, balanced across the hours of the day, so every "
    "shopper sees the same price at the same moment. While an experiment runs, its arms set its products' "
    "prices: approvals and automatic application leave them alone.",
)
params = ExperimentParams.from_settings(ui.settings())

outcome = st.session_state.pop("experiment_outcome", None)
if outcome:
    (st.success if outcome[0] == "success" else st.error)(outcome[1])


def _pct(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:+.1%}"


def _interval(level: str, low: float, high: float, percent: bool = True) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "not measurable yet"
    if percent:
        return f"{level} interval {low:+.1%} to {high:+.1%}"
    return f"{level} interval {low:.2f} to {high:.2f}"


def _results(row: pd.Series) -> None:
    blocks = ui.load("experiment_blocks", experiment_id=int(row["experiment_id"]))
    total = round((row["ends_at"] - row["starts_at"]).total_seconds() / 60 / row["block_minutes"])
    started = 0 if blocks is None else len(blocks)
    arms = (
        f"arm A {row['control_price']:,.2f} · arm B {row['test_price']:,.2f} ({row['arm_b_pct']:+g} %)"
        if row["products"] == 1
        else f"{row['products']} products, arm B {row['arm_b_pct']:+g} % from each one's price"
    )
    st.caption(
        f"{row['scope']} **{row['subject']}** · {arms} · {row['block_minutes']}-minute blocks · "
        f"{row['starts_at']:%Y-%m-%d %H:%M} to {row['ends_at']:%Y-%m-%d %H:%M} UTC · {row['status']} · "
        f"{started} of {total} blocks begun"
        + (
            f" · stopped by {row['stopped_by']}: {row['stopped_reason']}"
            if row["status"] == "stopped"
            else ""
        )
    )
    if blocks is None or blocks.empty or blocks["views"].sum() == 0:
        st.info("**No views in its blocks yet.** Results appear once shoppers have seen both arms.")
        return
    summary = summarise(list(blocks.itertuples(index=False, name=None)), int(row["experiment_id"]), params)
    if summary.analysis is None:
        st.info("**Arm B has not been shown yet.**")
        return
    result = summary.analysis
    per_arm = pd.DataFrame(
        [
            {
                "arm": f"{a.arm} ({'control' if a.arm == 'A' else 'test'})",
                "blocks": a.blocks,
                "views": a.views,
                "units": a.units,
                "conversion %": 100 * a.conversion if a.views else math.nan,
                "revenue": a.revenue,
                "gross profit": a.gross_profit,
                "gross profit per view": a.profit_per_view,
            }
            for a in result.arms
        ]
    )
    st.dataframe(per_arm.round(2), hide_index=True, width="stretch")
    level = f"{result.ci_level:.0%}"
    left, middle, right, last = st.columns(4)
    left.metric("Gross profit per view, B vs A", _pct(result.profit_uplift.estimate))
    left.caption(_interval(level, result.profit_uplift.low, result.profit_uplift.high))
    middle.metric("Revenue per view, B vs A", _pct(result.revenue_uplift.estimate))
    middle.caption(_interval(level, result.revenue_uplift.low, result.revenue_uplift.high))
    right.metric("Conversion, B vs A", _pct(result.units_uplift.estimate))
    right.caption(_interval(level, result.units_uplift.low, result.units_uplift.high))
    e = result.elasticity
    last.metric("Implied elasticity", "—" if not math.isfinite(e.estimate) else f"{e.estimate:.2f}")
    last.caption(_interval(level, e.low, e.high, percent=False))
    uplift = result.profit_uplift
    if math.isfinite(uplift.low) and uplift.low > 0:
        verdict = "Arm B earns more gross profit per view than the control at this level."
    elif math.isfinite(uplift.high) and uplift.high < 0:
        verdict = "Arm B earns less gross profit per view than the control at this level."
    else:
        verdict = "No difference in gross profit per view can be told apart yet: the interval spans zero."
    st.markdown(
        f"{verdict} {result.complete_pairs} hour-slot pairs complete. {summary.views_left_out:,} views left "
        "out: they "
        "showed the other arm's price just after a switch. The stopping rule ends it early when the whole "
        f"interval of the gross-profit change is below −{row['harm_stop_pct']:g} % (after "
        f"{params.min_pairs} pairs)."
    )
    if row["status"] == "running":
        with st.form(f"stop_{row['experiment_id']}"):
            analyst = ui.analyst(f"stop_analyst_{row['experiment_id']}")
            reason = st.text_input("Why stop it now?", key=f"stop_reason_{row['experiment_id']}")
            if st.form_submit_button("Stop the experiment (back to the control price)"):
                _stop(int(row["experiment_id"]), analyst, reason)


def _stop(experiment_id: int, analyst: str | None, reason: str) -> None:
    if analyst is None or not reason.strip():
        st.error("Not stopped: give your name and a reason.")
        return
    try:
        experiments.stop(ui.settings().approvals_conninfo, experiment_id, analyst, reason)
    except (ExperimentRefused, experiments.ExperimentFailed) as problem:
        st.error(f"Not stopped: {problem}")
        return
    st.cache_data.clear()
    st.session_state["experiment_outcome"] = ("success", f"Experiment {experiment_id} stopped by {analyst}.")
    st.rerun()


listing = ui.load("price_experiments")
if ui.has_rows(listing, "Experiments", "Start one below: it begins at the next block boundary."):
    assert listing is not None
    st.subheader("Experiments")
    st.dataframe(
        listing[["experiment_id", "name", "scope", "subject", "status", "arm_b_pct", "control_price",
                 "test_price", "starts_at", "ends_at", "ended_at", "created_by"]],
        hide_index=True, width="stretch",
    )  # fmt: skip
    labels = {
        int(r.experiment_id): f"{r.experiment_id}: {r.name} ({r.status})"
        for r in listing.itertuples(index=False)
    }
    chosen = st.selectbox("Results of", list(labels), format_func=labels.__getitem__, key="experiment_chosen")
    _results(listing.loc[listing["experiment_id"] == chosen].iloc[0])

st.subheader("Start an experiment")
with st.form("experiment_form"):
    scope = st.radio("On", ["product", "category"], horizontal=True, key="experiment_scope")
    product_labels = {p.product_id: f"{p.product_id} · {p.name}" for p in PRODUCTS}
    left, right = st.columns(2)
    product = left.selectbox(
        "Product", list(product_labels), format_func=product_labels.__getitem__, key="experiment_product"
    )
    category = right.selectbox("Category (when on a category)", CATEGORY_NAMES, key="experiment_category")
    left, middle, right = st.columns(3)
    arm_b_pct = left.number_input(
        "Arm B: change from today's price, %", value=params.arm_b_pct, step=1.0, key="experiment_pct",
        help="Arm A (control) is each product's price now; arm B is it changed by this, taken to the price "
        "ending. Both must keep the category's guardrails (min margin, max step, price bounds).",
    )  # fmt: skip
    days = middle.number_input(
        "Planned length, days (even)", value=params.days, min_value=2, step=2, key="experiment_days"
    )
    minutes = right.selectbox("Block length, minutes", [30, 60, 120, 240], index=1, key="experiment_minutes")
    name = st.text_input("Name", key="experiment_name")
    analyst = ui.analyst("experiment_analyst")
    starting = st.form_submit_button("Start the experiment", type="primary")

if starting:
    subject = product if scope == "product" else category
    if analyst is None or not name.strip():
        st.error("Not started: give the experiment a name and your name.")
    else:
        settings = ui.settings()
        try:
            request = Request(name, scope, subject, float(arm_b_pct), int(days), int(minutes))
            rules = PricingRules.from_settings(settings)
            experiment_id = experiments.start(
                settings.dashboard_conninfo, settings.approvals_conninfo, rules, params, request, analyst
            )
        except (ExperimentRefused, experiments.ExperimentFailed) as problem:
            st.error(f"Not started: {problem}")
        else:
            st.cache_data.clear()
            st.session_state["experiment_outcome"] = (
                "success",
                f"Experiment {experiment_id} ({name}) starts at the next block boundary.",
            )
            st.rerun()
