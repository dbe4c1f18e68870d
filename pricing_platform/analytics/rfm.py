"""RFM segmentation of buyers: quintile scores for recency, frequency and monetary value, and named
segments.

Input `buyers`, one row per user with at least one purchase in the window (ANALYTICS_RFM_LOOKBACK_DAYS):
user_id, last_purchase_at (timestamptz), frequency (purchase events), monetary (their revenue).

Scores (1–5, 5 best) are rank-based quintiles, so they exist for any number of buyers and any ties:
    score = ceil(rank × 5 / n)
where rank is the buyer's average rank (1 = worst) among the n buyers: fewer days since the last purchase,
more purchases and more revenue rank higher. Tied buyers share the average of their ranks and therefore the
same score. With 10 buyers this gives two per score; a single buyer scores 5.

Segments, the first matching rule wins (every R/F/M combination lands in exactly one):

| segment | rule |
| --- | --- |
| Champions | R ≥ 4 and F ≥ 4 and M ≥ 4 |
| Loyal Customers | R ≥ 3 and F ≥ 4 |
| Big Spenders | R ≥ 3 and M ≥ 4 |
| Potential Loyalists | R ≥ 4 (recent, not yet frequent or big) |
| At Risk | R ≤ 2 and (F ≥ 3 or M ≥ 3): valuable buyers going quiet |
| Lost | R ≤ 2 (and F ≤ 2 and M ≤ 2) |
| Needs Attention | the rest: R = 3 with F ≤ 3 and M ≤ 3 |
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

SEGMENTS: tuple[str, ...] = (
    "Champions",
    "Loyal Customers",
    "Big Spenders",
    "Potential Loyalists",
    "At Risk",
    "Lost",
    "Needs Attention",
)
SECONDS_PER_DAY = 86_400


def quintile_scores(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """ceil(average rank × 5 / n), the best value ranked n; see the module doc."""
    if values.empty:
        return pd.Series([], index=values.index, dtype="int64")
    ranks = values.astype("float64").rank(method="average", ascending=higher_is_better)
    return np.ceil(ranks * 5 / len(values)).clip(1, 5).astype("int64")


def segment(r: int, f: int, m: int) -> str:
    """The segment of one R/F/M score triple (rules in the module doc)."""
    if r >= 4 and f >= 4 and m >= 4:
        return "Champions"
    if r >= 3 and f >= 4:
        return "Loyal Customers"
    if r >= 3 and m >= 4:
        return "Big Spenders"
    if r >= 4:
        return "Potential Loyalists"
    if r <= 2 and (f >= 3 or m >= 3):
        return "At Risk"
    if r <= 2:
        return "Lost"
    return "Needs Attention"


def rfm_customers(buyers: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """One row per buyer: recency in days before `as_of`, frequency, monetary, the three scores, the
    'RFM' score string (e.g. '545') and the segment."""
    columns = ["user_id", "last_purchase_at", "recency_days", "frequency", "monetary", "r_score", "f_score",
               "m_score", "rfm_score", "segment"]  # fmt: skip
    if buyers.empty:
        return pd.DataFrame(columns=columns)
    table = buyers.sort_values("user_id", ignore_index=True)
    last = pd.to_datetime(table["last_purchase_at"], utc=True)
    table["recency_days"] = (pd.Timestamp(as_of) - last).dt.total_seconds() / SECONDS_PER_DAY
    table["r_score"] = quintile_scores(table["recency_days"], higher_is_better=False)
    table["f_score"] = quintile_scores(table["frequency"])
    table["m_score"] = quintile_scores(table["monetary"])
    table["rfm_score"] = (
        table["r_score"].astype(str) + table["f_score"].astype(str) + table["m_score"].astype(str)
    )
    table["segment"] = [
        segment(r, f, m) for r, f, m in zip(table["r_score"], table["f_score"], table["m_score"], strict=True)
    ]
    return table[columns]


def rfm_segments(customers: pd.DataFrame) -> pd.DataFrame:
    """One row per segment, all seven always (empty ones with 0 customers and no averages): customers and
    their share, revenue and its share, mean recency, frequency and monetary value."""
    grouped = customers.groupby("segment")
    table = pd.DataFrame(
        {
            "customers": grouped.size(),
            "revenue": grouped["monetary"].sum(),
            "avg_recency_days": grouped["recency_days"].mean(),
            "avg_frequency": grouped["frequency"].mean(),
            "avg_monetary": grouped["monetary"].mean(),
        }
    ).reindex(list(SEGMENTS))
    table[["customers", "revenue"]] = table[["customers", "revenue"]].fillna(0)
    table["customers"] = table["customers"].astype("int64")
    total_customers, total_revenue = table["customers"].sum(), table["revenue"].sum()
    table["customer_share_pct"] = table["customers"] / total_customers * 100 if total_customers else 0.0
    table["revenue_share_pct"] = table["revenue"] / total_revenue * 100 if total_revenue else 0.0
    return table.rename_axis("segment").reset_index()[
        ["segment", "customers", "customer_share_pct", "revenue", "revenue_share_pct", "avg_recency_days",
         "avg_frequency", "avg_monetary"]
    ]  # fmt: skip
