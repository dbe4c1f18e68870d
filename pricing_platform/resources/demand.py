"""The demand estimator's parameters as a Dagster resource (it is the `DemandParams` object)."""

from __future__ import annotations

import dagster as dg

from pricing_platform.pricing.demand import DemandParams


class DemandResource(dg.ConfigurableResource, DemandParams):
    """Built with `from_settings`, like the object it is."""
