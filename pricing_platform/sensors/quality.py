"""Checks every pricing cycle within a minute of the engine appending it, in the long-lived code server
rather than in the every-minute pricing run (which never imports great-expectations: 7–10 s a process).

Every 20 s `recommendation_checks_sensor` looks for cycles not checked yet (from the checked-cycle
watermark on, with a grace for late commits: quality/cycles.py), validates each with the recommendation
suite, records its verdict (the marts read only cycles whose ERROR checks passed) and reports one
`AssetCheckEvaluation` per check through `SensorResult(asset_events=...)`. Those events are keyed by the
asset check (`pricing_recommendations` + check name), not by a run, so they attach to the asset whichever
code location defines it (Dagster cannot run a check defined in one location on an asset of another:
dagster-io/dagster issue 17808). Each evaluation names the materialisation of the cycle it checked when
Dagster recorded one.
"""

import json
from collections.abc import Sequence
from typing import Final
from uuid import UUID

import dagster as dg
import psycopg

# Not exported by `dagster`; names the materialisation an evaluation checked (sensor-reported evaluations).
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from pricing_platform.assets.quality import check_evaluation, check_measure
from pricing_platform.core import tables
from pricing_platform.observability.metrics import push_quality_checks
from pricing_platform.pricing.auto_apply import apply_cycle, summary
from pricing_platform.quality.cycles import Cycle, unchecked_cycles
from pricing_platform.resources.metrics import PushgatewayResource
from pricing_platform.resources.postgres import PostgresResource
from pricing_platform.resources.pricing import PricingEngineResource
from pricing_platform.resources.quality import QualityResource

# A cycle is appended every minute: evaluating every 20 s checks each within a minute of its commit
# (plus the daemon's own tick delay), with room for the first evaluation's import of great-expectations.
INTERVAL_S: Final = 20
# Cycles checked per evaluation: after an outage only the newest matter (the marts read the newest passed
# cycle per product); older unchecked ones stay unread.
MAX_CYCLES: Final = 5
# Materialisations of pricing_recommendations searched for the one that wrote a cycle.
MATERIALIZATIONS_SEARCHED: Final = 20


def cycle_materializations(
    instance: dg.DagsterInstance, cycle_ids: Sequence[UUID]
) -> dict[UUID, AssetCheckEvaluationTargetMaterializationData]:
    """The pricing materialisation that wrote each cycle (its metadata names the cycle), when recent."""
    wanted = {str(c): c for c in cycle_ids}
    found: dict[UUID, AssetCheckEvaluationTargetMaterializationData] = {}
    records = instance.fetch_materializations(
        dg.AssetKey(tables.PRICING_RECOMMENDATIONS), limit=MATERIALIZATIONS_SEARCHED
    ).records
    for record in records:
        materialization = record.asset_materialization
        cycle = materialization.metadata.get("cycle_id") if materialization else None
        if cycle is not None and str(cycle.value) in wanted:
            found[wanted[str(cycle.value)]] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            )
    return found


@dg.sensor(
    name="recommendation_checks_sensor",
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluates the recommendation checks (great-expectations) on every new pricing cycle, "
    "records the cycle's verdict for the marts, applies a passed cycle's in-band moves automatically "
    "(category policy) and reports the results as asset check evaluations of pricing_recommendations. "
    "Launches no runs.",
)
def recommendation_checks_sensor(
    context: dg.SensorEvaluationContext,
    postgres: PostgresResource,
    quality: QualityResource,
    pricing: PricingEngineResource,
    pushgateway: PushgatewayResource,
) -> dg.SensorResult | dg.SkipReason:
    with postgres.connect() as conn:
        cycles: list[Cycle] = unchecked_cycles(conn, MAX_CYCLES)
    if not cycles:
        return dg.SkipReason("no pricing cycle appended since the last one checked")
    targets = cycle_materializations(context.instance, [c.cycle_id for c in cycles])
    events: list[dg.AssetCheckEvaluation] = []
    verdicts = []
    for cycle in cycles:
        verdict = quality.check_cycle(postgres.conninfo, cycle)
        verdicts.append({"cycle_id": str(cycle.cycle_id), "passed": verdict.passed, "failed": verdict.failed})
        for warning in verdict.validation.warnings:
            context.log.warning(warning)
        events += [check_evaluation(o, targets.get(cycle.cycle_id)) for o in verdict.outcomes]
        if not verdict.passed:
            context.log.warning(
                "cycle %s withheld from the marts and from automatic application: %s failed",
                cycle.cycle_id, verdict.failed,
            )  # fmt: skip
            continue
        # Only a cycle whose blocking checks passed is applied; if this process dies before the commit,
        # the cycle's moves wait in the review queue and the next cycle's are applied.
        try:
            with postgres.connect() as conn:
                outcomes = apply_cycle(conn, cycle.cycle_id, pricing)
        except psycopg.Error as exc:
            # The check results must still be reported; the moves wait in the review queue.
            context.log.error("automatic application of cycle %s failed: %s", cycle.cycle_id, exc)
            verdicts[-1]["auto_apply"] = f"failed: {exc}".splitlines()[0]
            continue
        verdicts[-1]["auto_apply"] = summary(outcomes)
    push_quality_checks(pushgateway, [check_measure(o) for o in verdict.outcomes])
    context.log.info("checked %s", json.dumps(verdicts))
    return dg.SensorResult(asset_events=events)
