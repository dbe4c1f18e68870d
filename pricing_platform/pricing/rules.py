"""The pricing engine's thresholds as one object. Defaults and descriptions live in the settings
(PRICING_*); `resources/pricing.py` hands the same object to the Dagster asset."""

from __future__ import annotations

from pricing_platform.core.catalog import COMPETITORS
from pricing_platform.core.settings import SettingsSection, default_settings


class PricingRules(SettingsSection):
    settings_prefix = "pricing_"

    lower_gap_pct: float  # lower when ours is more than this % above the competitor average…
    lower_max_velocity: int  # …and fewer than this many purchases in the last hour
    raise_gap_pct: float  # raise when ours is more than this % below the average…
    raise_min_velocity: int  # …and at least this many purchases in the last hour
    target_factor: float  # raise/lower target = factor × competitor average
    staleness_s: int  # competitor observations older than this are ignored
    min_margin_pct: float  # never below unit cost × (1 + min margin)
    max_step_pct: float  # never move more than this % in one change
    price_ending: float | None  # recommended prices end in these cents (None: any cents)

    @property
    def competitors_tracked(self) -> int:
        """Full coverage for the confidence score."""
        return len(COMPETITORS)

    @classmethod
    def defaults(cls) -> PricingRules:
        """The rules as the settings define them by default (the environment ignored)."""
        return cls.from_settings(default_settings())
