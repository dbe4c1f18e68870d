"""The Streamlit dashboard: live pages for the pricing analyst and the warehouse manager, and the
analytics pages. `pricing-platform dashboard` serves it; `app.py` is the entry script."""
