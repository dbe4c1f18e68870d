"""The analytics' parameters as a Dagster resource (it is the `AnalyticsParams` object)."""

from __future__ import annotations

import dagster as dg

from pricing_platform.analytics.params import AnalyticsParams


class AnalyticsResource(dg.ConfigurableResource, AnalyticsParams):
    """Built with `from_settings`, like the object it is."""
