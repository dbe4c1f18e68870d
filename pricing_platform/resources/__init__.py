"""Dagster resources: how configuration reaches assets, checks, sensors and schedules. One module per
resource; where a domain object holds the parameters (the pricing rules, the quality thresholds, the alert
rules, the analytics parameters, the Pushgateway), the resource *is* that object, so the asset hands it
straight to the domain code. Tests build them from their own `Settings` with `build_resources`.

This package's import stays light: the pricing engine's code location imports single resource modules,
and must not pay for the lake's pyarrow through this `__init__`."""

from __future__ import annotations

from typing import Any

from pricing_platform.core.settings import Settings


def build_resources(settings: Settings) -> dict[str, Any]:
    """Every resource but dbt's (`resources/dbt.py`, added where the dbt assets are: dagster-dbt's imports
    cost seconds), built from `settings`."""
    from pricing_platform.resources.alerting import AlertingResource
    from pricing_platform.resources.analytics import AnalyticsResource
    from pricing_platform.resources.demand import DemandResource
    from pricing_platform.resources.experiments import ExperimentResource
    from pricing_platform.resources.housekeeping import HousekeepingResource
    from pricing_platform.resources.ingest import IngestResource
    from pricing_platform.resources.lake import LakeResource
    from pricing_platform.resources.metrics import PushgatewayResource
    from pricing_platform.resources.postgres import PostgresResource
    from pricing_platform.resources.pricing import PricingEngineResource
    from pricing_platform.resources.quality import QualityResource

    return {
        "postgres": PostgresResource(conninfo=settings.database_conninfo),
        "pricing": PricingEngineResource.from_settings(settings),
        "pushgateway": PushgatewayResource.from_settings(settings),
        "alerting": AlertingResource.from_settings(settings),
        "quality": QualityResource.from_settings(settings),
        "analytics": AnalyticsResource.from_settings(settings),
        "demand": DemandResource.from_settings(settings),
        "experiments": ExperimentResource.from_settings(settings),
        "lake": LakeResource.from_settings(settings),
        "housekeeping": HousekeepingResource.from_settings(settings),
        "ingest": IngestResource.from_settings(settings),
    }
