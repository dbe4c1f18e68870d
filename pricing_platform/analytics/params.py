"""The analytics' parameters, in a module of their own so that the Dagster resource carrying them does not
import pandas (every run process, the pricing engine's included, loads the resources)."""

from __future__ import annotations

from typing import ClassVar

from psycopg import sql

from pricing_platform.core.settings import SettingsSection


class AnalyticsParams(SettingsSection):
    """The analytics settings (ANALYTICS_*, defaults there), and where the dbt models live."""

    settings_prefix = "analytics_"
    settings_renamed: ClassVar[dict[str, str]] = {
        "staging_schema": "dbt_staging_schema",
        "marts_schema": "dbt_marts_schema",
    }

    staging_schema: str
    marts_schema: str
    funnel_window_h: int
    lookback_days: int
    rfm_lookback_days: int
    elasticity: float
    forecast_decay: float
    velocity_window_h: int
    stockout_critical_h: float
    stockout_warning_h: float

    def staging(self, model: str) -> sql.Composable:
        return sql.Identifier(self.staging_schema, model)

    def mart(self, model: str) -> sql.Composable:
        return sql.Identifier(self.marts_schema, model)
