"""The four analyses behind the `analytics` Dagster assets and the notebooks, as pure pandas functions.

Each module turns DataFrames into DataFrames and does no IO: the assets (pricing_platform/assets/analytics.py)
aggregate in SQL to the grain these functions take (sessions, products, buyers, hours), so what crosses the
wire stays small, and write the results to the `analytics_*` tables. Its modules import pandas: keep them
out of the pricing engine's run path (the assets import them inside their bodies).
"""
