"""The pricing engine as an asset: every minute, one recommendation per product with competitor data."""

import dagster as dg
import psycopg

from pricing_platform.assets.scheduling import asset_job, schedule
from pricing_platform.core import tables
from pricing_platform.observability.metrics import StockSnapshot, push_pricing_cycle, read_stock_snapshot
from pricing_platform.pricing.cycle import run_cycle
from pricing_platform.resources.metrics import PushgatewayResource
from pricing_platform.resources.postgres import PostgresResource
from pricing_platform.resources.pricing import PricingEngineResource

PRICING_GROUP = "pricing"


@dg.asset(
    name=tables.PRICING_RECOMMENDATIONS,
    group_name=PRICING_GROUP,
    deps=[tables.PRODUCTS, tables.COMPETITOR_PRICES_LATEST, tables.CLICKSTREAM_EVENTS],
    kinds={"postgres", "python"},
    owners=["team:pricing"],
    description="Appends one cycle of raise/lower/hold recommendations (history kept, `cycle_id` per "
    "run; `pricing_recommendations_latest` serves readers). Rules and guardrails: "
    "pricing_platform/pricing/engine.py.",
)
def pricing_recommendations(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    pricing: PricingEngineResource,
    pushgateway: PushgatewayResource,
) -> dg.MaterializeResult:
    with postgres.connect() as conn:
        summary = run_cycle(conn, pricing)
        stock = _stock_snapshot(context, conn) if pushgateway.url else None
    push_pricing_cycle(
        pushgateway,
        cycle_seconds=summary.total_s,
        phase_seconds={"read": summary.read_s, "decide": summary.decide_s, "write": summary.write_s},
        products_priced=summary.products_priced,
        by_recommendation=summary.by_recommendation,
        guardrail_hits=summary.guardrail_hits,
        stock=stock,
    )
    context.log.info(
        "cycle %s: %s products in %.3fs (read %.3fs, decide %.3fs, write %.3fs): %s",
        summary.cycle_id, summary.products_priced, summary.total_s, summary.read_s, summary.decide_s,
        summary.write_s, summary.by_recommendation,
    )  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "cycle_id": str(summary.cycle_id),
            "products_priced": summary.products_priced,
            "raise": summary.by_recommendation.get("raise", 0),
            "lower": summary.by_recommendation.get("lower", 0),
            "hold": summary.by_recommendation.get("hold", 0),
            "guardrail_hits": dg.MetadataValue.json(summary.guardrail_hits),
            "cycle_seconds": round(summary.total_s, 4),
            "sample": dg.MetadataValue.md(_sample_table(summary.sample)),
        }
    )


def _stock_snapshot(context: dg.AssetExecutionContext, conn: psycopg.Connection) -> StockSnapshot | None:
    # Only feeds the dashboard: a failing read must not fail a cycle that has already committed.
    try:
        return read_stock_snapshot(conn)
    except psycopg.Error as exc:
        context.log.warning("stock snapshot for the metrics push failed: %s", exc)
        return None


def _sample_table(rows: list[dict[str, object]]) -> str:
    if not rows:
        return "no product has competitor data yet"
    lines = ["| product | decision | price | confidence | reason |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(
            f"| {row['product_id']} | {row['recommendation']} | {row['recommended_price']:.2f} | "
            f"{row['confidence']:.3f} | {row['reason']} |"
        )
    return "\n".join(lines)


# Without its checks: they run in the code server (recommendation_checks_sensor), so this every-minute
# run never imports great-expectations.
pricing_job = asset_job(
    "pricing_engine_job",
    dg.AssetSelection.assets(tables.PRICING_RECOMMENDATIONS).without_checks(),
    "Materialises pricing_recommendations (scheduled every minute); recommendation_checks_sensor checks "
    "each cycle.",
)
pricing_schedule = schedule("pricing_engine_every_minute", pricing_job, "* * * * *")
