"""Every threshold of the pricing engine, in one place; values come from the settings (PRICING_*)."""

from __future__ import annotations

from dataclasses import dataclass

from pricing_platform.catalog import COMPETITORS
from pricing_platform.settings import Settings


@dataclass(frozen=True, slots=True)
class PricingRules:
    lower_gap_pct: float = 10.0  # lower when ours is more than this % above the competitor average…
    lower_max_velocity: int = 2  # …and fewer than this many purchases in the last hour
    raise_gap_pct: float = 10.0  # raise when ours is more than this % below the average…
    raise_min_velocity: int = 5  # …and at least this many purchases in the last hour
    target_factor: float = 0.99  # raise/lower target = factor × competitor average
    staleness_s: int = 6 * 3600  # competitor observations older than this are ignored
    min_margin_pct: float = 5.0  # never below unit cost × (1 + min margin)
    max_step_pct: float = 10.0  # never move more than this % in one change
    price_ending: float | None = 0.99  # recommended prices end in these cents (None: any cents)
    competitors_tracked: int = len(COMPETITORS)  # full coverage for the confidence score

    @classmethod
    def from_settings(cls, settings: Settings) -> PricingRules:
        return cls(
            lower_gap_pct=settings.pricing_lower_gap_pct,
            lower_max_velocity=settings.pricing_lower_max_velocity,
            raise_gap_pct=settings.pricing_raise_gap_pct,
            raise_min_velocity=settings.pricing_raise_min_velocity,
            target_factor=settings.pricing_target_factor,
            staleness_s=settings.pricing_staleness_s,
            min_margin_pct=settings.pricing_min_margin_pct,
            max_step_pct=settings.pricing_max_step_pct,
            price_ending=settings.pricing_price_ending,
        )
