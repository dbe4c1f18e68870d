"""Dagster resources, configured from the settings module (no credentials in code)."""

from __future__ import annotations

from pricing_platform.resources.alerting import AlertingResource
from pricing_platform.resources.lake import LakeResource
from pricing_platform.resources.postgres import PostgresResource
from pricing_platform.settings import Settings


def build_resources(settings: Settings) -> dict[str, object]:
    return {
        "postgres": PostgresResource.from_settings(settings),
        "alerting": AlertingResource.from_settings(settings),
        "lake": LakeResource.from_settings(settings),
    }


__all__ = ["AlertingResource", "LakeResource", "PostgresResource", "build_resources"]
