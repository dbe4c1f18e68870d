"""Demand estimation as an asset: every hour, the price elasticity per product and category learned from
the landed views and purchases (pricing_platform/pricing/demand.py), replacing `demand_estimates`.

statsmodels is imported inside the fit only: this module is loaded with the definitions by every run."""

from datetime import UTC, datetime

import dagster as dg

from pricing_platform.assets.scheduling import asset_job, schedule
from pricing_platform.core import tables
from pricing_platform.pricing.demand import NOT_ENOUGH_VARIATION, Estimate
from pricing_platform.pricing.demand_store import refresh_estimates
from pricing_platform.resources.demand import DemandResource
from pricing_platform.resources.postgres import PostgresResource

DEMAND_GROUP = "demand"


@dg.asset(
    name=tables.DEMAND_ESTIMATES,
    group_name=DEMAND_GROUP,
    deps=[tables.CLICKSTREAM_EVENTS, tables.COMPETITOR_PRICES, tables.PRODUCTS],
    kinds={"postgres", "python"},
    owners=["team:pricing"],
    description="Price elasticity per product and category from the last DEMAND_WINDOW_DAYS of views and "
    "purchases at the prices shown (Poisson GLM per category, competitor and hour-of-day controls, "
    "products shrunk towards their category), each with its interval, sample and source; products "
    "whose price did not move are flagged 'not enough price variation'.",
)
def demand_estimates(
    context: dg.AssetExecutionContext, postgres: PostgresResource, demand: DemandResource
) -> dg.MaterializeResult:
    with postgres.connect() as conn:
        estimates = refresh_estimates(conn, demand, datetime.now(UTC))
    categories = [e for e in estimates if e.scope == "category"]
    products = [e for e in estimates if e.scope == "product"]
    thin = sorted(e.subject for e in products if NOT_ENOUGH_VARIATION in e.note)
    context.log.info("%s categories, %s products; without price variation: %s", len(categories),
                     len(products), thin or "none")  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "categories": dg.MetadataValue.md(_category_table(categories)),
            "products": len(products),
            "products_own_or_shrunk": sum(e.source in ("own", "shrunk") for e in products),
            "products_without_price_variation": dg.MetadataValue.json(thin),
        }
    )


def _category_table(categories: list[Estimate]) -> str:
    if not categories:
        return "no views or purchases in the window"
    lines = [
        "| category | elasticity | interval | source | purchases | price sd % |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for e in categories:
        lines.append(
            f"| {e.subject} | {e.elasticity:.2f} | [{e.ci_low:.2f}, {e.ci_high:.2f}] | {e.source} | "
            f"{e.purchases} | {e.price_sd_pct:.1f} |"
        )
    return "\n".join(lines)


demand_job = asset_job(
    "demand_estimation_job", [tables.DEMAND_ESTIMATES], "Materialises demand_estimates (scheduled hourly)."
)
demand_schedule = schedule("demand_estimation_hourly", demand_job, "5 * * * *")
