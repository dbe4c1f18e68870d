"""Demand per category and hour, its weekly rhythm, a short forecast, and how long each product's stock
lasts.

Hourly series: `hourly_counts` holds category, hour (UTC, truncated to the hour) and purchases for the
hours that had any; `hourly_demand` fills every hour from the first hour with a purchase up to `end`
(exclusive: the assets pass the start of the current hour, so a half-finished hour never looks like a drop
in demand) with 0 for every category. ma_1h is the hour itself (a 1-hour window), ma_3h the mean of the
hour and the two before it (fewer at the start of the series).

Forecast (`holt_forecast`): Holt's linear exponential smoothing, i.e. an exponentially weighted mean with a
trend, with both smoothing factors α = β = 1 − decay (ANALYTICS_FORECAST_DECAY, 0.85: each older hour
weighs 0.85 times the next):
    level₀ = y₀,  trend₀ = 0
    levelₜ = α·yₜ + (1 − α)·(levelₜ₋₁ + trendₜ₋₁)
    trendₜ = β·(levelₜ − levelₜ₋₁) + (1 − β)·trendₜ₋₁
    forecast(h) = max(0, level_T + h·trend_T)    for h = 1 … 6 hours after the last complete hour.

Stock-out: hours until stock-out = total stock across warehouses / (units sold by applied `sale`
movements in the last ANALYTICS_VELOCITY_WINDOW_H hours / that many hours). Critical below
ANALYTICS_STOCKOUT_CRITICAL_H (24), Warning below ANALYTICS_STOCKOUT_WARNING_H (72), otherwise OK. A product
out of stock has 0 hours (Critical); one in stock that did not sell has no estimate (OK).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

HORIZON_H = 6
CRITICAL, WARNING, OK = "Critical", "Warning", "OK"


def hourly_demand(hourly_counts: pd.DataFrame, categories: Sequence[str], end: datetime) -> pd.DataFrame:
    """Every hour × category from the first hour with a purchase to `end` (exclusive), missing hours 0,
    with the 1-hour and trailing 3-hour moving averages."""
    columns = ["category", "hour", "purchases", "ma_1h", "ma_3h"]
    end_ts = pd.Timestamp(end)
    counts = hourly_counts.assign(hour=pd.to_datetime(hourly_counts["hour"], utc=True))
    counts = counts[counts["hour"] < end_ts]
    if counts.empty:
        return pd.DataFrame(columns=columns)
    hours = pd.date_range(counts["hour"].min(), end_ts, freq="h", inclusive="left")
    grid = pd.MultiIndex.from_product([sorted(set(categories) | set(counts["category"])), hours],
                                      names=["category", "hour"])  # fmt: skip
    table = counts.groupby(["category", "hour"])["purchases"].sum().reindex(grid, fill_value=0).reset_index()
    table["purchases"] = table["purchases"].astype("int64")
    by_category = table.groupby("category")["purchases"]
    table["ma_1h"] = by_category.transform(lambda s: s.rolling(1).mean())
    table["ma_3h"] = by_category.transform(lambda s: s.rolling(3, min_periods=1).mean())
    return table[columns]


def demand_heatmap(hourly: pd.DataFrame) -> pd.DataFrame:
    """Purchases per ISO day of week (1 = Monday) × hour of day (UTC), all 168 cells."""
    hours = pd.to_datetime(hourly["hour"], utc=True)
    cells = pd.DataFrame(
        {
            "day_of_week": hours.dt.day_of_week + 1,
            "hour_of_day": hours.dt.hour,
            "purchases": hourly["purchases"],
        }
    )
    cells = cells.groupby(["day_of_week", "hour_of_day"])["purchases"].sum()
    grid = pd.MultiIndex.from_product([range(1, 8), range(24)], names=["day_of_week", "hour_of_day"])
    table = cells.reindex(grid, fill_value=0).reset_index()
    table["purchases"] = table["purchases"].astype("int64")
    return table


@dataclass(frozen=True)
class HoltForecast:
    level: float
    trend: float
    forecasts: tuple[float, ...]


def holt_forecast(series: Sequence[float], decay: float, horizon: int = HORIZON_H) -> HoltForecast:
    """Holt's level + trend smoothing with α = β = 1 − decay (formulas in the module doc)."""
    if not 0 < decay < 1:
        raise ValueError(f"forecast decay must be between 0 and 1 exclusive, got {decay}")
    if len(series) == 0:
        raise ValueError("cannot forecast an empty series")
    alpha = 1 - decay
    level, trend = float(series[0]), 0.0
    for value in series[1:]:
        previous = level
        level = alpha * float(value) + decay * (level + trend)
        trend = alpha * (level - previous) + decay * trend
    return HoltForecast(level, trend, tuple(max(0.0, level + h * trend) for h in range(1, horizon + 1)))


def demand_forecast(hourly: pd.DataFrame, decay: float, horizon: int = HORIZON_H) -> pd.DataFrame:
    """Per category, the next `horizon` hours after its last complete hour (output of `hourly_demand`)."""
    rows = []
    for category, group in hourly.sort_values("hour").groupby("category", sort=True):
        fit = holt_forecast(group["purchases"].tolist(), decay, horizon)
        last = pd.Timestamp(group["hour"].iloc[-1])
        for h, value in enumerate(fit.forecasts, start=1):
            rows.append(
                {
                    "category": category,
                    "horizon_h": h,
                    "forecast_hour": last + timedelta(hours=h),
                    "forecast_purchases": value,
                    "level": fit.level,
                    "trend": fit.trend,
                }
            )
    return pd.DataFrame(
        rows, columns=["category", "horizon_h", "forecast_hour", "forecast_purchases", "level", "trend"]
    )


def stockout_risk(stock: pd.DataFrame, window_h: float, critical_h: float, warning_h: float) -> pd.DataFrame:
    """One row per product (`stock`: product_id, product_name, category, total_stock, units_sold_window):
    hourly velocity, hours until stock-out and the Critical/Warning/OK flag (see the module doc)."""
    if window_h <= 0:
        raise ValueError(f"velocity window must be positive, got {window_h} h")
    if not 0 < critical_h <= warning_h:
        raise ValueError(f"stock-out thresholds need 0 < critical ({critical_h} h) ≤ warning ({warning_h} h)")
    table = stock.copy()
    table["hourly_velocity"] = table["units_sold_window"].astype("float64") / window_h
    total = table["total_stock"].astype("float64")
    hours = total / table["hourly_velocity"].where(table["hourly_velocity"] > 0)
    table["hours_until_stockout"] = hours.where(total > 0, 0.0)
    table["risk"] = OK
    table.loc[table["hours_until_stockout"] < warning_h, "risk"] = WARNING
    table.loc[table["hours_until_stockout"] < critical_h, "risk"] = CRITICAL
    return table[
        ["product_id", "product_name", "category", "total_stock", "units_sold_window", "hourly_velocity",
         "hours_until_stockout", "risk"]
    ].sort_values("product_id", ignore_index=True)  # fmt: skip
