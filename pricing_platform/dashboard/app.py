"""Entry script of the dashboard (`pricing-platform dashboard` runs it with `streamlit run`)."""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).with_name("pages")

st.set_page_config(page_title="Pricing intelligence", page_icon="📈", layout="wide")

navigation = st.navigation(
    {
        "Live": [
            st.Page(PAGES / "overview.py", title="Overview", icon="📊", default=True),
            st.Page(PAGES / "pricing.py", title="Pricing", icon="🏷️"),
            st.Page(PAGES / "inventory.py", title="Inventory", icon="📦"),
            st.Page(PAGES / "competitors.py", title="Competitors", icon="⚔️"),
            st.Page(PAGES / "funnel.py", title="Funnel", icon="🔻"),
        ],
        "Analytics": [
            st.Page(PAGES / "elasticity.py", title="Price elasticity", icon="📉"),
            st.Page(PAGES / "rfm.py", title="Customer segments", icon="👥"),
            st.Page(PAGES / "forecast.py", title="Demand forecast", icon="🔮"),
        ],
    }
)
navigation.run()
