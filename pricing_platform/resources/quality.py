"""The data-quality thresholds as a Dagster resource (it is the `Thresholds` object)."""

from __future__ import annotations

import dagster as dg

from pricing_platform.quality.framework import Thresholds


class QualityResource(dg.ConfigurableResource, Thresholds):
    """Built with `from_settings`, like the object it is."""
