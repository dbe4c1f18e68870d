"""The Pushgateway the batch jobs push their metrics to, as a Dagster resource (it is the `Pushgateway`)."""

from __future__ import annotations

import dagster as dg

from pricing_platform.observability.metrics import Pushgateway


class PushgatewayResource(dg.ConfigurableResource, Pushgateway):
    """Built with `from_settings`, like the object it is."""
