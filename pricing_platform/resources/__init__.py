"""Dagster resources: how configuration reaches assets, checks, sensors and schedules. Each is built from
the settings here, once; where a domain object holds the parameters (the pricing rules, the quality
thresholds, the alert rules, the analytics parameters, the Pushgateway), the resource *is* that object, so
the asset hands it straight to the domain code. Tests build them from their own `Settings`.

Each resource's module is imported only when that resource is built: `build_resources(settings, only=...)`
gives a code location just what it uses, and the lake's (dagster-aws, boto3: seconds of imports) stays out
of a location that does not export the lake, such as a lean pricing location."""

from __future__ import annotations

import importlib
from collections.abc import Collection
from typing import Any, Final

from pricing_platform.core.settings import Settings

# Resource key → (module, class) under pricing_platform.resources; each class has `from_settings`.
RESOURCES: Final = {
    "postgres": ("postgres", "PostgresResource"),
    "pricing": ("pricing", "PricingEngineResource"),
    "pushgateway": ("metrics", "PushgatewayResource"),
    "alerting": ("alerting", "AlertingResource"),
    "quality": ("quality", "QualityResource"),
    "analytics": ("analytics", "AnalyticsResource"),
    "lake": ("lake", "LakeResource"),
    "housekeeping": ("housekeeping", "HousekeepingResource"),
    "ingest": ("ingest", "IngestResource"),
}


def build_resources(settings: Settings, only: Collection[str] | None = None) -> dict[str, Any]:
    """Every resource but dbt's (or those named in `only`), which `resources/dbt.py` builds next to the
    dbt assets (dagster-dbt's imports cost seconds, so modules that do not build the marts stay clear of
    it)."""
    unknown = set(only or ()) - set(RESOURCES)
    if unknown:
        raise ValueError(f"no such resources: {sorted(unknown)}")
    built = {}
    for key, (module, name) in RESOURCES.items():
        if only is None or key in only:
            cls = getattr(importlib.import_module(f"{__name__}.{module}"), name)
            built[key] = cls.from_settings(settings)
    return built


__all__ = ["RESOURCES", "build_resources"]
