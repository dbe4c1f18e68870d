"""The pricing engine's rules as a Dagster resource: the resource is the `PricingRules` object itself."""

from __future__ import annotations

import dagster as dg

from pricing_platform.pricing.rules import PricingRules


class PricingEngineResource(dg.ConfigurableResource, PricingRules):
    """Built with `from_settings`, like the object it is."""
