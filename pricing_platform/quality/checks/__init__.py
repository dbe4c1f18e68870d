"""Every data-quality check, one module per guarded table; `CHECKS` is the registry in a stable order.

Some rules are also enforced by the schema today (noted in `enforced_by`): they stay, because a schema can
drift, a replica or a manual load can bypass it, and the check then says so."""

from __future__ import annotations

from typing import Final

from pricing_platform.quality.checks import (
    clickstream_events,
    competitor_prices,
    competitor_prices_latest,
    inventory_events,
    inventory_state,
    pricing_recommendations,
)
from pricing_platform.quality.framework import Dataset, QualityCheck, unique_names

CHECKS: Final[tuple[QualityCheck, ...]] = unique_names(
    (
        *inventory_state.CHECKS,
        *inventory_events.CHECKS,
        *clickstream_events.CHECKS,
        *competitor_prices.CHECKS,
        *competitor_prices_latest.CHECKS,
        *pricing_recommendations.CHECKS,
    )
)
CHECKS_BY_NAME: Final[dict[str, QualityCheck]] = {c.name: c for c in CHECKS}


def checks_for(asset: str) -> tuple[QualityCheck, ...]:
    return tuple(c for c in CHECKS if c.asset == asset)


def guarded_assets() -> tuple[str, ...]:
    """Assets with checks, in registry order."""
    return tuple(dict.fromkeys(c.asset for c in CHECKS))


def datasets() -> tuple[Dataset, ...]:
    """What the checks are validated against, one GX suite each, in registry order."""
    return tuple({c.dataset.name: c.dataset for c in CHECKS}.values())
