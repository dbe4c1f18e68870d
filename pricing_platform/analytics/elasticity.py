"""Price position and a price-elasticity simulation of the engine's `lower` recommendations.

Inputs (the assets read them from marts.pricing_analysis, staging.stg_competitor_prices and
staging.stg_clickstream):

- `products`: product_id, product_name, category, our_price, competitor_avg_price (mean of the fresh latest
  competitor prices, NaN without any), competitors_seen, recommendation and recommended_price (the latest
  recommendation; NaN/None without one).
- `quantities`: product_id, quantity: the **quantity base** of the simulation, purchases of the product in
  the last ANALYTICS_LOOKBACK_DAYS (7) days by event time. Products without purchases have a base of 0.

Simulation, with elasticity e the product's learned estimate (`products.elasticity`, from
`demand_estimates`; ANALYTICS_ELASTICITY, −1.5, for a product without one, and `elasticity_source` says
which): a product whose latest recommendation is `lower` moves from our price p0 to the recommended price
p1 and sells
    q1 = q0 × (p1 / p0) ^ e
units instead of q0. Current revenue is q0 × p0 (the base at today's price, so only the price move is
compared), simulated revenue q1 × p1, impact = simulated − current. Every other product keeps p0 and q0
(impact 0): the simulation asks only what following the `lower` recommendations would do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NO_DATA_BUCKET = "no competitor data"
# Right-closed bins: a gap of exactly +10 % sits in "5 % to 10 %", where the default engine still holds.
GAP_EDGES: tuple[float, ...] = (-np.inf, -10.0, -5.0, 0.0, 5.0, 10.0, np.inf)
GAP_BUCKETS: tuple[str, ...] = (
    "≤ -10 %", "-10 % to -5 %", "-5 % to 0 %", "0 % to 5 %", "5 % to 10 %", "> 10 %",
)  # fmt: skip
RECOMMENDATIONS: tuple[str, ...] = ("raise", "lower", "hold", "none")


def gap_bucket(gap_pct: pd.Series) -> pd.Series:
    """The price gap (ours − competitor average) / average × 100 in bands; NaN → 'no competitor data'."""
    buckets = pd.cut(gap_pct.astype("float64"), bins=list(GAP_EDGES), labels=list(GAP_BUCKETS), right=True)
    return buckets.astype("object").where(gap_pct.notna(), NO_DATA_BUCKET)


FALLBACK_SOURCE = "setting"


def price_position(products: pd.DataFrame, quantities: pd.DataFrame, elasticity: float) -> pd.DataFrame:
    """One row per product: our price, competitor average, gap %, gap band, latest recommendation, the
    quantity base, the elasticity used and the simulated revenue of following a `lower` recommendation (see
    the module doc). `elasticity` serves the products without a learned one."""
    table = products.merge(quantities, on="product_id", how="left")
    learned = (
        table["elasticity"].astype("float64") if "elasticity" in table else pd.Series(np.nan, table.index)
    )
    source = table["elasticity_source"] if "elasticity_source" in table else pd.Series(None, table.index)
    table["elasticity"] = learned.fillna(elasticity)
    table["elasticity_source"] = source.where(learned.notna(), FALLBACK_SOURCE)
    table["base_quantity"] = table["quantity"].fillna(0).astype("int64")
    table = table.drop(columns="quantity")
    avg = table["competitor_avg_price"].astype("float64")
    our = table["our_price"].astype("float64")
    table["price_gap_pct"] = (our - avg) / avg * 100
    table["gap_bucket"] = gap_bucket(table["price_gap_pct"])
    follows = (table["recommendation"] == "lower") & table["recommended_price"].notna()
    new_price = table["recommended_price"].astype("float64").where(follows, our)
    table["simulated_price"] = new_price
    table["current_revenue"] = table["base_quantity"] * our
    table["simulated_quantity"] = table["base_quantity"] * (new_price / our) ** table["elasticity"]
    table["simulated_revenue"] = table["simulated_quantity"] * new_price
    table["revenue_impact"] = table["simulated_revenue"] - table["current_revenue"]
    return table[
        ["product_id", "product_name", "category", "our_price", "competitor_avg_price", "competitors_seen",
         "price_gap_pct", "gap_bucket", "recommendation", "recommended_price", "base_quantity",
         "current_revenue", "simulated_price", "simulated_quantity", "simulated_revenue", "revenue_impact",
         "elasticity", "elasticity_source"]
    ].sort_values("product_id", ignore_index=True)  # fmt: skip


def elasticity_summary(position: pd.DataFrame, elasticity: float) -> pd.DataFrame:
    """The recommendation split: one row per recommendation type (raise, lower, hold, and 'none' for
    products without a recommendation), always all four, with products, mean gap, quantity base and the
    revenue figures of `price_position` summed, and the group's elasticity: its products' mean weighted by
    their quantity base (plain mean without purchases; `elasticity` for an empty group)."""
    kind = position["recommendation"].fillna("none")
    grouped = position.assign(recommendation=kind).groupby("recommendation")
    summary = pd.DataFrame(
        {
            "products": grouped.size(),
            "avg_price_gap_pct": grouped["price_gap_pct"].mean(),
            "base_quantity": grouped["base_quantity"].sum(),
            "current_revenue": grouped["current_revenue"].sum(),
            "simulated_revenue": grouped["simulated_revenue"].sum(),
            "revenue_impact": grouped["revenue_impact"].sum(),
        }
    )
    summary = summary.reindex(list(RECOMMENDATIONS))
    zero = ["products", "base_quantity", "current_revenue", "simulated_revenue", "revenue_impact"]
    summary[zero] = summary[zero].fillna(0)
    summary[["products", "base_quantity"]] = summary[["products", "base_quantity"]].astype("int64")
    weighted = position.assign(
        recommendation=kind, _w=position["base_quantity"] * position["elasticity"]
    ).groupby("recommendation")
    mean = (weighted["_w"].sum() / grouped["base_quantity"].sum()).where(grouped["base_quantity"].sum() > 0)
    mean = mean.fillna(grouped["elasticity"].mean())
    summary["elasticity"] = mean.reindex(list(RECOMMENDATIONS)).fillna(elasticity)
    return summary.rename_axis("recommendation").reset_index()


def competitor_landscape(latest: pd.DataFrame, our_prices: pd.DataFrame) -> pd.DataFrame:
    """Competitor × product price index = competitor price / our current price × 100 (below 100: they are
    cheaper). `latest` holds the newest observation per product × competitor (competitor_name, product_id,
    competitor_price, observed_at, is_fresh); `our_prices` product_id, our_price."""
    table = latest.merge(our_prices, on="product_id", how="inner")
    ours = table["our_price"].astype("float64")
    table["price_index"] = table["competitor_price"].astype("float64") / ours * 100
    return table[
        ["competitor_name", "product_id", "competitor_price", "our_price", "price_index", "observed_at",
         "is_fresh"]
    ].sort_values(["competitor_name", "product_id"], ignore_index=True)  # fmt: skip
