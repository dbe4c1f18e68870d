"""The price experiments' settings as a Dagster resource: the resource is the `ExperimentParams` object."""

from __future__ import annotations

import dagster as dg

from pricing_platform.pricing.experiments import ExperimentParams


class ExperimentResource(dg.ConfigurableResource, ExperimentParams):
    """Built with `from_settings`, like the object it is."""
