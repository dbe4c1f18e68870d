"""The platform's main Dagster code location, assembled from the small modules under assets/ (each
domain's assets or checks with the job and schedule that run them), sensors/ and resources/: everything but
the every-minute pricing job, which has a lean location of its own (`pricing_definitions.py`). Both are
listed in `deploy/dagster/workspace.yaml` (`dagster dev -w deploy/dagster/workspace.yaml`). The settings
are read here, once, to build the resources; nothing below reads them again."""

from __future__ import annotations

import dagster as dg

from pricing_platform.assets.analytics import analytics_assets, analytics_job, analytics_schedule
from pricing_platform.assets.dbt import dbt_marts_job, dbt_marts_schedule, pricing_dbt_models
from pricing_platform.assets.demand import demand_estimates, demand_job, demand_schedule
from pricing_platform.assets.housekeeping import housekeeping_job, housekeeping_schedule
from pricing_platform.assets.lake import lake_assets, lake_export_job, lake_schedule
from pricing_platform.assets.quality import quality_checks_job, quality_checks_schedule, worker_table_checks
from pricing_platform.assets.raw_tables import raw_table_specs
from pricing_platform.core.settings import get_settings
from pricing_platform.resources import build_resources
from pricing_platform.resources.dbt import DbtResource
from pricing_platform.sensors.alerts import (
    competitor_price_move_sensor,
    competitor_undercut_sensor,
    quality_sensor,
    stock_out_sensor,
)
from pricing_platform.sensors.experiments import price_experiments_sensor
from pricing_platform.sensors.quality import recommendation_checks_sensor
from pricing_platform.sensors.raw_tables import observe_raw_tables

settings = get_settings()

defs = dg.Definitions(
    assets=[*raw_table_specs(), pricing_dbt_models, *lake_assets, *analytics_assets, demand_estimates],
    asset_checks=worker_table_checks,
    jobs=[dbt_marts_job, quality_checks_job, lake_export_job, housekeeping_job, analytics_job, demand_job],
    schedules=[
        dbt_marts_schedule,
        quality_checks_schedule,
        lake_schedule,
        housekeeping_schedule,
        analytics_schedule,
        demand_schedule,
    ],
    sensors=[
        observe_raw_tables,
        stock_out_sensor,
        competitor_undercut_sensor,
        competitor_price_move_sensor,
        quality_sensor,
        recommendation_checks_sensor,
        price_experiments_sensor,
    ],
    resources={**build_resources(settings), "dbt": DbtResource.from_settings(settings)},
)
