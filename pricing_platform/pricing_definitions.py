"""The pricing engine's own Dagster code location: the every-minute pricing job, its schedule, the
recommendations' blocking checks and only the resources they use.

Every scheduled cycle is a Dagster run, and a run process imports its code location before it prices
anything. Kept apart from `definitions.py` (dbt, the lake, the analytics, the sensors), a pricing run
imports Dagster, psycopg and numpy and nothing heavier: no dagster-dbt/dbt-core, pyarrow, boto3 or pandas.
`tests/integration/test_dagster.py` checks that stays so. Both locations are listed in
`deploy/dagster/workspace.yaml`, which the local stack loads too; the asset graph spans them (the dbt
marts depend on `pricing_recommendations` by key)."""

from __future__ import annotations

import dagster as dg

from pricing_platform.assets.pricing import pricing_job, pricing_recommendations, pricing_schedule
from pricing_platform.assets.quality import pricing_recommendation_checks
from pricing_platform.core.settings import get_settings
from pricing_platform.resources.metrics import PushgatewayResource
from pricing_platform.resources.postgres import PostgresResource
from pricing_platform.resources.pricing import PricingEngineResource
from pricing_platform.resources.quality import QualityResource

settings = get_settings()

defs = dg.Definitions(
    assets=[pricing_recommendations],
    asset_checks=[pricing_recommendation_checks],
    jobs=[pricing_job],
    schedules=[pricing_schedule],
    resources={
        "postgres": PostgresResource(conninfo=settings.database_conninfo),
        "pricing": PricingEngineResource.from_settings(settings),
        "pushgateway": PushgatewayResource.from_settings(settings),
        "quality": QualityResource.from_settings(settings),
    },
)
