"""Entry script of the dashboard (`pricing-platform dashboard` runs it with `streamlit run`)."""

from pathlib import Path

import streamlit as st

# Not "pages/": Streamlit would also serve a folder of that name as pages of its own, bypassing this script.
PAGES = Path(__file__).with_name("views")

st.set_page_config(page_title="Pricing intelligence", page_icon=":material/price_change:", layout="wide")

navigation = st.navigation(
    {
        "Live": [
            st.Page(PAGES / "overview.py", title="Overview", icon=":material/monitoring:", default=True),
            st.Page(PAGES / "pricing.py", title="Pricing", icon=":material/sell:"),
            st.Page(PAGES / "policy.py", title="Pricing policy", icon=":material/tune:"),
            st.Page(PAGES / "experiments.py", title="Price experiments", icon=":material/science:"),
            st.Page(PAGES / "inventory.py", title="Inventory", icon=":material/inventory_2:"),
            st.Page(PAGES / "competitors.py", title="Competitors", icon=":material/storefront:"),
            st.Page(PAGES / "funnel.py", title="Funnel", icon=":material/filter_alt:"),
        ],
        "Analytics": [
            st.Page(PAGES / "elasticity.py", title="Price elasticity", icon=":material/trending_down:"),
            st.Page(PAGES / "rfm.py", title="Customer segments", icon=":material/groups:"),
            st.Page(PAGES / "forecast.py", title="Demand forecast", icon=":material/timeline:"),
        ],
    }
)
navigation.run()
