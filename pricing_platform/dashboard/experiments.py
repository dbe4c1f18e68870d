"""Starting and stopping a price experiment from the dashboard: the plan (arms and schedule) is made from
the prices and policies the reader role sees, then stored by `create_experiment` as the approver role,
which refuses, with the reason, what breaks its guards; `stop_experiment` likewise."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from pricing_platform.dashboard.definer import Failed, Refused, call
from pricing_platform.pricing import experiment_store
from pricing_platform.pricing.experiment_store import Request
from pricing_platform.pricing.experiments import ExperimentParams, ExperimentRefused
from pricing_platform.pricing.rules import PricingRules


class ExperimentFailed(Failed):
    """The experiment could not be started or stopped (database unreachable or failing); nothing changed."""


def start(
    reader: str,
    approver: str,
    rules: PricingRules,
    params: ExperimentParams,
    request: Request,
    created_by: str,
) -> int:
    """Plan and store an experiment starting at the next block boundary; ExperimentRefused says why not."""
    try:
        with psycopg.connect(reader, connect_timeout=5) as conn:
            plan = experiment_store.plan(conn, rules, params, request, datetime.now(UTC))
        rows = call(approver, experiment_store.CREATE_SQL, experiment_store.create_params(plan, created_by),
                    "the experiment")  # fmt: skip
    except Refused as exc:
        raise ExperimentRefused(str(exc)) from exc
    except psycopg.Error as exc:
        raise ExperimentFailed(f"the experiment was not started, nothing changed: {exc}") from exc
    except Failed as exc:
        raise ExperimentFailed(str(exc)) from exc
    return int(rows[0][0])


def stop(approver: str, experiment_id: int, stopped_by: str, reason: str) -> None:
    try:
        call(approver, experiment_store.STOP_SQL, (experiment_id, stopped_by, reason, None), "the stop")
    except Refused as exc:
        raise ExperimentRefused(str(exc)) from exc
    except Failed as exc:
        raise ExperimentFailed(str(exc)) from exc
