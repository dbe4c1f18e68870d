"""Pricing policy: each category's strategy and thresholds, a what-if preview of an edit on the latest
cycle's inputs before saving it, saving (as the approver role, audited), product price bounds, and the
audit trail of every policy edit."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from pricing_platform.core.catalog import CATEGORY_NAMES
from pricing_platform.core.decisions import STRATEGIES
from pricing_platform.core.settings import Settings
from pricing_platform.dashboard import ui
from pricing_platform.dashboard.policies import (
    PolicyFailed,
    PolicyRefused,
    set_auto_apply,
    set_category_policy,
    set_price_bounds,
)
from pricing_platform.pricing.cycle_inputs import CycleInputs, from_document
from pricing_platform.pricing.policy import POLICY_SETTINGS, category_rules
from pricing_platform.pricing.rules import PricingRules
from pricing_platform.pricing.whatif import preview

ui.header(
    "Pricing policy",
    "Each category's strategy and thresholds. Preview an edit on the latest cycle, then save it: the next "
    "pricing cycle uses it. Empty settings follow the environment's defaults (PRICING_*).",
)

THRESHOLDS = [name for name in POLICY_SETTINGS if name != "strategy"]
# Whole-number settings, by their type in the rules (the database's integer columns).
WHOLE = {name for name in THRESHOLDS if PricingRules.model_fields[name].annotation is int}


def _help(setting: str) -> str | None:
    return Settings.model_fields[f"pricing_{setting}"].description


def _overrides(frame: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    for record in [] if frame is None else frame.to_dict("records"):
        own = {
            name: value
            for name, value in record.items()
            if name != "category"
            and value is not None
            and not (isinstance(value, float) and math.isnan(value))
        }
        if own:
            overrides[str(record["category"])] = own
    return overrides


def _bound(value: object) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _stored() -> CycleInputs | None:
    frame = ui.load("latest_cycle_inputs")
    if frame is None or frame.empty:
        return None
    row = frame.iloc[0]
    return from_document(row["cycle_id"], row["priced_at"], row["inputs"])


def _outcome() -> None:
    outcome = st.session_state.pop("policy_outcome", None)
    if outcome:
        (st.success if outcome[0] == "success" else st.error)(outcome[1])


def _describe(value: Any, default: Any) -> str:
    """A setting's value as the analyst reads it; None is the environment's default, named with its value."""
    if value is None:
        return f"{_describe(default, None)} (default)"
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _save(category: str, edited: dict[str, Any], analyst: str, note: str, defaults: PricingRules) -> None:
    try:
        changes = set_category_policy(ui.settings().approvals_conninfo, category, edited, analyst, note)
    except (PolicyRefused, PolicyFailed) as problem:
        st.session_state["policy_outcome"] = ("error", f"Not saved ({category}): {problem}")
        return
    st.cache_data.clear()
    what = "; ".join(
        f"{c.setting} {_describe(c.old_value, getattr(defaults, c.setting))} → "
        f"{_describe(c.new_value, getattr(defaults, c.setting))}"
        for c in changes
    )
    st.session_state["policy_outcome"] = (
        "success",
        f"Saved by {analyst} for {category}: {what or 'nothing differed from the stored policy'}. "
        "The next pricing cycle uses it.",
    )


overrides = _overrides(ui.load("category_policies"))
stored = _stored()
base = stored.rules if stored is not None else PricingRules.from_settings(ui.settings())

_outcome()
st.subheader("Automatic application")
controls = ui.load("pricing_controls")
enabled = bool(controls is not None and not controls.empty and controls.iloc[0]["auto_apply_enabled"])
st.markdown(
    "Checked raise/lower recommendations inside their category's `auto_apply_band_pct`, with confidence "
    "≥ `auto_apply_min_confidence` and under `max_changes_per_day`, are applied automatically; the rest "
    "wait in the review queue (page Pricing). "
    + ("**On.**" if enabled else "**Off for every category** (kill switch).")
)
with st.form("kill_switch"):
    switch_analyst = ui.analyst("switch_analyst")
    label = "Stop automatic application" if enabled else "Resume automatic application"
    if st.form_submit_button(label, type="primary" if enabled else "secondary"):
        if switch_analyst is None:
            st.error("Not changed: give your name (recorded in the audit trail).")
        else:
            try:
                set_auto_apply(ui.settings().approvals_conninfo, not enabled, switch_analyst)
            except (PolicyRefused, PolicyFailed) as problem:
                st.error(f"Not changed: {problem}")
            else:
                st.cache_data.clear()
                st.session_state["policy_outcome"] = (
                    "success",
                    f"Automatic application {'stopped' if enabled else 'resumed'} by {switch_analyst}.",
                )
                st.rerun()

st.subheader("Policy per category")
effective = []
for name in CATEGORY_NAMES:
    rules = category_rules(base, name, overrides)
    effective.append(
        {
            "category": name,
            **{s: getattr(rules, s) for s in POLICY_SETTINGS},
            "changed": ", ".join(sorted(overrides.get(name, {}))) or "—",
        }
    )
st.dataframe(pd.DataFrame(effective), hide_index=True, width="stretch")

st.subheader("Edit a category")
category = st.selectbox("Category", CATEGORY_NAMES, key="policy_category")
current = category_rules(base, category, overrides)
defaults = category_rules(base, category, {})
with st.form("policy_form"):
    strategy = st.radio(
        "Strategy", STRATEGIES, index=STRATEGIES.index(current.strategy), horizontal=True,
        help="rules: the seed's gap and velocity thresholds; profit: the price that maximises expected gross "
        "profit from the learned demand, stock-aware",
    )  # fmt: skip
    values: dict[str, Any] = {"strategy": strategy}
    columns = st.columns(3)
    for i, setting in enumerate(THRESHOLDS):
        with columns[i % 3]:
            if setting in WHOLE:
                values[setting] = st.number_input(
                    setting, value=int(getattr(current, setting)), step=1, help=_help(setting),
                    key=f"{category}:{setting}",
                )  # fmt: skip
            else:
                values[setting] = st.number_input(
                    setting, value=float(getattr(current, setting)), help=_help(setting), format="%.2f",
                    key=f"{category}:{setting}",
                )  # fmt: skip
    analyst = ui.analyst("policy_analyst")
    note = st.text_input("Note (optional)", key="policy_note")
    previewing = st.form_submit_button("Preview")
    saving = st.form_submit_button("Save policy", type="primary")
    resetting = st.form_submit_button(
        "Back to the defaults", help="Clears every setting this category overrides"
    )

edited = {name: value for name, value in values.items() if value != getattr(current, name)}
problems = category_rules(
    base, category, {**overrides, category: {**overrides.get(category, {}), **edited}}
).problems()
if (previewing or saving) and problems:
    st.error(f"Not {'previewed' if previewing else 'saved'} ({category}): " + "; ".join(problems))
elif previewing:
    if stored is None:
        st.info(f"**No pricing cycle yet** to preview on. {ui.PRICING_HINT}")
    elif not edited:
        st.info("Nothing edited: change a setting above, then preview.")
    else:
        result = preview(stored, category, edited, saved=overrides)
        st.markdown(
            f"**What-if for {category}** on the cycle of {stored.priced_at:%Y-%m-%d %H:%M} UTC: "
            + ", ".join(f"{k} → {_describe(v, getattr(defaults, k))}" for k, v in edited.items())
        )
        left, middle, right = st.columns(3)
        left.metric("Recommendations that change", f"{len(result.changes)} of {result.products}")
        middle.metric(
            "Predicted units per hour",
            f"{result.units_after:,.2f}",
            delta=f"{result.units_after - result.units_before:+,.2f}",
        )
        right.metric(
            "Predicted gross profit per hour",
            f"{result.profit_after:,.2f}",
            delta=f"{result.profit_after - result.profit_before:+,.2f}",
        )
        if result.changes:
            st.dataframe(pd.DataFrame(result.changes), hide_index=True, width="stretch")
        else:
            st.info("No recommendation of this category would change.")
if saving and not problems:
    if analyst is None:
        st.error("Not saved: give your name (recorded in the audit trail).")
    elif not edited:
        st.info("Nothing edited: the stored policy stays as it is.")
    else:
        _save(category, edited, analyst, note, defaults)
        st.rerun()
if resetting:
    if analyst is None:
        st.error("Not reset: give your name (recorded in the audit trail).")
    elif not overrides.get(category):
        st.info(f"{category} follows the defaults already.")
    else:
        _save(category, dict.fromkeys(overrides[category]), analyst, note, defaults)
        st.rerun()

st.subheader("Price bounds per product")
bounds = ui.load("price_bounds")
if ui.has_rows(bounds, "Products", ui.INGEST_HINT):
    st.dataframe(bounds, hide_index=True, width="stretch")
    names = bounds.set_index("product_id")["product_name"].to_dict()
    # Outside the form: choosing a product fills the form with its stored bounds at once.
    product_id = st.selectbox("Product", list(names), format_func=lambda p: f"{p} {names[p]}")
    with st.form("bounds_form"):
        low, high = st.columns(2)
        # Pre-filled with the stored bounds, so saving one bound keeps the other.
        stored_bounds = bounds.set_index("product_id").loc[product_id]
        min_price = low.number_input(
            "Minimum price (empty: none)", value=_bound(stored_bounds["min_price"]), min_value=0.0,
            format="%.2f", key=f"{product_id}:min_price",
        )  # fmt: skip
        max_price = high.number_input(
            "Maximum price (empty: none)", value=_bound(stored_bounds["max_price"]), min_value=0.0,
            format="%.2f", key=f"{product_id}:max_price",
        )  # fmt: skip
        bounds_analyst = ui.analyst("bounds_analyst")
        if st.form_submit_button("Save bounds"):
            if bounds_analyst is None:
                st.error("Not saved: give your name (recorded in the audit trail).")
            else:
                try:
                    changes = set_price_bounds(
                        ui.settings().approvals_conninfo,
                        product_id,
                        None if min_price is None else Decimal(f"{min_price:.2f}"),
                        None if max_price is None else Decimal(f"{max_price:.2f}"),
                        bounds_analyst,
                    )
                except (PolicyRefused, PolicyFailed) as problem:
                    st.error(f"Not saved ({product_id}): {problem}")
                else:
                    st.cache_data.clear()
                    st.success(
                        f"Saved by {bounds_analyst} for {product_id}: "
                        + (
                            "; ".join(f"{c.setting} {c.old_value} → {c.new_value}" for c in changes)
                            or "no change"
                        )
                    )

st.subheader("Policy audit trail")
audit = ui.load("policy_changes")
if ui.has_rows(
    audit, "Policy changes", "Save a policy or price bounds above; every change is recorded here."
):
    st.dataframe(audit, hide_index=True, width="stretch")
