"""The platform's one Dagster `Definitions`, assembled from the small modules under assets/, resources/
and sensors/. Load it with `dagster dev -m pricing_platform.definitions`."""

from __future__ import annotations

import dagster as dg

from pricing_platform.assets.analytics import analytics_assets, analytics_job, analytics_schedule
from pricing_platform.assets.dbt import (
    build_dbt_resource,
    dbt_marts_job,
    dbt_marts_schedule,
    pricing_dbt_models,
)
from pricing_platform.assets.lake import build_lake_schedule, lake_assets, lake_export_job
from pricing_platform.assets.pricing import pricing_job, pricing_recommendations, pricing_schedule
from pricing_platform.assets.raw_tables import raw_table_specs
from pricing_platform.maintenance import housekeeping_job, housekeeping_schedule
from pricing_platform.quality.assets import quality_checks, quality_checks_job, quality_checks_schedule
from pricing_platform.resources import build_resources
from pricing_platform.sensors.quality import quality_sensor
from pricing_platform.sensors.raw_tables import observe_raw_tables
from pricing_platform.sensors.stock import stock_out_sensor
from pricing_platform.sensors.undercut import competitor_undercut_sensor
from pricing_platform.settings import get_settings

settings = get_settings()

defs = dg.Definitions(
    assets=[*raw_table_specs(), pricing_recommendations, pricing_dbt_models, *lake_assets, *analytics_assets],
    asset_checks=quality_checks,
    jobs=[pricing_job, dbt_marts_job, quality_checks_job, lake_export_job, housekeeping_job, analytics_job],
    schedules=[
        pricing_schedule,
        dbt_marts_schedule,
        quality_checks_schedule,
        build_lake_schedule(settings),
        housekeeping_schedule,
        analytics_schedule,
    ],
    sensors=[observe_raw_tables, stock_out_sensor, competitor_undercut_sensor, quality_sensor],
    resources={**build_resources(settings), "dbt": build_dbt_resource(settings)},
)
