"""Inventory: stock per product × warehouse, hours until each product runs out, low-stock highlights."""

import pandas as pd
import streamlit as st

from pricing_platform.core.catalog import WAREHOUSES
from pricing_platform.dashboard import ui

ui.header("Inventory", "Stock on hand per warehouse; hours until stock-out at the recent rate of sale.")


def _highlight(stock: pd.DataFrame, flagged: set[tuple[str, str]]) -> pd.DataFrame:
    styles = pd.DataFrame("", index=stock.index, columns=stock.columns)
    for (product_id, _name), row in stock.iterrows():
        for warehouse in WAREHOUSES:
            if row[warehouse] == 0:
                styles.loc[(product_id, _name), warehouse] = "background-color: #f8d7da"
            elif (product_id, warehouse) in flagged:
                styles.loc[(product_id, _name), warehouse] = "background-color: #fff3cd"
    return styles


@st.fragment(run_every=ui.refresh_interval())
def live() -> None:
    levels = ui.load("stock_levels")
    if not ui.has_rows(levels, "Stock levels", "The catalog is loaded by `pricing-platform db migrate`."):
        return
    alerts = ui.load("open_stock_alerts")
    flagged = set() if alerts is None else set(zip(alerts["product_id"], alerts["warehouse_id"], strict=True))
    stock = levels.pivot_table(
        index=["product_id", "product_name"], columns="warehouse_id", values="current_stock", aggfunc="sum"
    ).reindex(columns=list(WAREHOUSES))  # a slot without a row stays empty, not "out of stock"
    out, low = int((levels["current_stock"] == 0).sum()), len(flagged)
    total, out_col, low_col = st.columns(3)
    total.metric("Units on hand", f"{int(levels['current_stock'].sum()):,}")
    out_col.metric("Slots out of stock", out)
    low_col.metric(
        "Slots flagged by the stock sensor", low, help="out of stock or out within the alert horizon"
    )
    st.subheader("Stock per product × warehouse")
    st.caption("red: out of stock · amber: flagged by the stock sensor (runs out within its horizon)")
    st.dataframe(stock.style.apply(lambda _: _highlight(stock, flagged), axis=None), width="stretch")

    st.subheader("Hours until stock-out")
    risk = ui.load("stockout_risk")
    if ui.has_rows(risk, "Stock-out forecast", ui.ANALYTICS_HINT):
        critical = risk[risk["risk"] == "Critical"]
        warning = risk[risk["risk"] == "Warning"]
        st.caption(f"computed {risk['computed_at'].max():%Y-%m-%d %H:%M %Z}")
        if not critical.empty:
            st.error(
                f"Critical (< 24 h): {', '.join(critical['product_id'] + ' ' + critical['product_name'])}"
            )
        if not warning.empty:
            st.warning(
                f"Warning (< 72 h): {', '.join(warning['product_id'] + ' ' + warning['product_name'])}"
            )
        st.dataframe(risk.drop(columns="computed_at"), hide_index=True, width="stretch")


live()
