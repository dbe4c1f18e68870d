"""How long the housekeeping job keeps Dagster's runs and the operational rows that are not facts."""

from __future__ import annotations

from typing import ClassVar

import dagster as dg

from pricing_platform.core.settings import SettingsSection


class HousekeepingResource(dg.ConfigurableResource, SettingsSection):
    settings_renamed: ClassVar[dict[str, str]] = {
        "run_retention_days": "dagster_run_retention_days",
        "operational_retention_days": "operational_retention_days",
    }

    run_retention_days: int
    operational_retention_days: int
