"""Runs the price experiments: every 30 s the stopping rule, then each running experiment's products set
to the arm of the block under way (back to the control price at the planned end), through
`run_experiments` (migration 0014): the same audited path and outbox as any price change. Launches no
runs; a switch lands within about one interval of its block's start, and the analysis leaves out the views
that still showed the other arm's price."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Final

import dagster as dg

from pricing_platform.pricing.experiment_store import enforce_stopping_rule, run_due
from pricing_platform.resources.experiments import ExperimentResource
from pricing_platform.resources.postgres import PostgresResource

INTERVAL_S: Final = 30


@dg.sensor(
    name="price_experiments_sensor",
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Switches running price experiments between their arms on schedule (through the outbox), "
    "ends them at the control price, and applies the stopping rule. Launches no runs.",
)
def price_experiments_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource, experiments: ExperimentResource
) -> dg.SkipReason:
    now = datetime.now(UTC)
    with postgres.connect() as conn:
        stopped = enforce_stopping_rule(conn, experiments, now)
        changed = run_due(conn, now)
    for experiment_id, reason in stopped.items():
        context.log.warning("experiment %s stopped: %s", experiment_id, reason)
    if changed:
        context.log.info("experiment prices set: %s", json.dumps(changed))
    return dg.SkipReason(f"{len(changed)} experiment price changes, {len(stopped)} experiments stopped")
