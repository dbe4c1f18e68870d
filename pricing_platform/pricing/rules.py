"""The pricing engine's thresholds as one object. Defaults and descriptions live in the settings
(PRICING_*); `resources/pricing.py` hands the same object to the Dagster asset."""

from __future__ import annotations

from typing import ClassVar

from pricing_platform.core.catalog import COMPETITORS
from pricing_platform.core.decisions import STRATEGIES
from pricing_platform.core.settings import SettingsSection, default_settings


class PricingRules(SettingsSection):
    settings_prefix = "pricing_"
    settings_renamed: ClassVar[dict[str, str]] = {
        "prior_elasticity": "demand_prior_elasticity",
        "prior_sd": "demand_prior_sd",
    }

    lower_gap_pct: float  # lower when ours is more than this % above the competitor average…
    lower_max_velocity: int  # …and fewer than this many purchases in the last hour
    raise_gap_pct: float  # raise when ours is more than this % below the average…
    raise_min_velocity: int  # …and at least this many purchases in the last hour
    target_factor: float  # raise/lower target = factor × competitor average
    staleness_s: int  # competitor observations older than this are ignored
    gate_jump_pct: float  # the price gate (core/price_gate.py): a jump from the pair's recent median…
    gate_market_pct: float  # …or a price this far from its trimmed competitor mean…
    gate_confirm_pct: float  # …is held until the observation before agrees within this %
    min_margin_pct: float  # never below unit cost × (1 + min margin)
    max_step_pct: float  # never move more than this % in one change
    price_ending: float | None  # recommended prices end in these cents (None: any cents)
    # Which strategy prices a category (STRATEGIES): `strategies` by category, `strategy` for the rest.
    strategy: str
    strategies: dict[str, str]
    # The profit strategy (pricing/profit.py).
    lead_time_h: float  # raise when stock would not last the replenishment lead time
    overstock_days: float  # mark down when stock would last longer than this
    min_gain_pct: float  # hold unless a move gains at least this % of expected profit
    war_window_h: float  # a cut this recent that a competitor followed stops further cuts…
    follow_tolerance_pct: float  # …"followed": their price within this % of our cut price
    views_window_h: float  # recent views per hour, averaged over this window
    inputs_store_interval_s: float  # store the cycle's inputs for the preview when the newest are this old
    # Automatic application of checked recommendations (pricing/auto_apply.py).
    auto_apply_band_pct: float  # moves of at most this % are applied automatically (0: none)…
    auto_apply_min_confidence: float  # …with at least this confidence…
    max_changes_per_day: int  # …while the product changed price fewer times than this in 24 h
    prior_elasticity: float  # demand before any estimate exists (DEMAND_PRIOR_ELASTICITY)…
    prior_sd: float  # …and its standard error

    def strategy_of(self, category: str) -> str:
        """The category's strategy; an unknown one is refused with the known ones named."""
        chosen = self.strategies.get(category, self.strategy)
        if chosen not in STRATEGIES:
            raise ValueError(f"unknown pricing strategy {chosen!r} for {category!r}; known: {STRATEGIES}")
        return chosen

    def problems(self) -> list[str]:
        """What makes these rules inconsistent, as sentences (empty: none)."""
        if self.auto_apply_band_pct > self.max_step_pct:
            return [
                f"auto_apply_band_pct {self.auto_apply_band_pct:g} is above max_step_pct "
                f"{self.max_step_pct:g}: no move is larger than the step, so lower the band to at most it"
            ]
        return []

    @property
    def competitors_tracked(self) -> int:
        """Full coverage for the confidence score."""
        return len(COMPETITORS)

    @classmethod
    def defaults(cls) -> PricingRules:
        """The rules as the settings define them by default (the environment ignored)."""
        return cls.from_settings(default_settings())
