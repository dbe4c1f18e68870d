"""Conversion funnel: unique sessions per stage, where most sessions drop out, by device and category, and
what converting sessions do differently.

Inputs, one row per session and one per session × category (the assets build both in SQL):

- `sessions`: session_id, device_type (of its first event), events, duration_s (last − first event),
  products_viewed (distinct products with a product_view), and one boolean per stage in `STAGES`: whether
  the session had at least one event of that type.
- `session_categories`: session_id, category, and booleans product_view, add_to_cart, purchase: whether the
  session had that event on a product of the category.

Stages are counted independently (a session that bought without a recorded page view still counts as a
purchase), so a later stage can in principle exceed an earlier one; the drop-off is then negative.
"""

from __future__ import annotations

import pandas as pd

from pricing_platform.core.catalog import UNATTRIBUTED_CATEGORY

STAGES: tuple[str, ...] = ("page_view", "product_view", "add_to_cart", "purchase")


def _stage_table(counts: list[int]) -> pd.DataFrame:
    first = counts[0]
    rows = []
    for order, (stage, sessions) in enumerate(zip(STAGES, counts, strict=True), start=1):
        previous = counts[order - 2] if order > 1 else None
        rows.append(
            {
                "stage_order": order,
                "stage": stage,
                "sessions": sessions,
                "pct_of_first": sessions / first * 100 if first else None,
                "drop_off_pct": (1 - sessions / previous) * 100 if previous else None,
            }
        )
    return pd.DataFrame(rows)


def funnel_stages(sessions: pd.DataFrame) -> pd.DataFrame:
    """One row per stage: sessions that reached it, % of the first stage, % lost since the previous stage,
    and `is_steepest_drop` on the stage with the largest drop-off (the earliest one on a tie; none when no
    stage has a previous stage with sessions)."""
    counts = [int(sessions[stage].sum()) if len(sessions) else 0 for stage in STAGES]
    table = _stage_table(counts)
    drops = table["drop_off_pct"].astype("float64")
    table["is_steepest_drop"] = False
    if drops.notna().any():
        table.loc[drops.idxmax(), "is_steepest_drop"] = True
    return table


def steepest_drop(stages: pd.DataFrame) -> str | None:
    """'product_view → add_to_cart (72.5 %)' for the steepest stage of `funnel_stages`, or None."""
    steepest = stages[stages["is_steepest_drop"]]
    if steepest.empty:
        return None
    row = steepest.iloc[0]
    previous = STAGES[int(row["stage_order"]) - 2]
    return f"{previous} → {row['stage']} ({row['drop_off_pct']:.1f} %)"


def funnel_breakdown(sessions: pd.DataFrame, session_categories: pd.DataFrame) -> pd.DataFrame:
    """Sessions per stage for every device × category that occurs.

    Attribution as in marts.daily_funnel_metrics: a session counts in every category it reached through a
    product, and its page views (which carry no category) count in each of those; a session with only
    product-less page views counts in 'unattributed'. So sessions add up across devices but not across
    categories. `pct_of_first` is relative to the page_view stage of the same device × category."""
    columns = ["device_type", "category", "stage_order", "stage", "sessions", "pct_of_first"]
    if sessions.empty:
        return pd.DataFrame(columns=columns)
    base = sessions[["session_id", "device_type", "page_view"]]
    attributed = base.merge(session_categories, on="session_id", how="left")
    attributed["category"] = attributed["category"].fillna(UNATTRIBUTED_CATEGORY)
    for stage in STAGES[1:]:
        attributed[stage] = attributed[stage].fillna(False).astype(bool)
    counts = attributed.groupby(["device_type", "category"], sort=True)[list(STAGES)].sum()
    frames = []
    for (device, category), row in counts.iterrows():
        table = _stage_table([int(row[stage]) for stage in STAGES]).drop(columns="drop_off_pct")
        table.insert(0, "category", category)
        table.insert(0, "device_type", device)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)[columns]


def session_profiles(sessions: pd.DataFrame) -> pd.DataFrame:
    """Converted (a purchase) vs non-converted sessions: how many, mean events per session, mean duration
    in seconds, mean distinct products viewed, and the device mix as {device: % of the group's sessions}.
    Only groups with sessions get a row (converted rows first)."""
    columns = ["converted", "sessions", "avg_events_per_session", "avg_duration_s", "avg_products_viewed",
               "device_mix"]  # fmt: skip
    rows = []
    for converted in (True, False):
        group = sessions[sessions["purchase"] == converted]
        if group.empty:
            continue
        mix = group["device_type"].value_counts(normalize=True).sort_index() * 100
        rows.append(
            {
                "converted": converted,
                "sessions": len(group),
                "avg_events_per_session": float(group["events"].mean()),
                "avg_duration_s": float(group["duration_s"].mean()),
                "avg_products_viewed": float(group["products_viewed"].mean()),
                "device_mix": {str(device): round(float(share), 2) for device, share in mix.items()},
            }
        )
    return pd.DataFrame(rows, columns=columns)
