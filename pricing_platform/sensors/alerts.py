"""The alert sensors: every 60 s each evaluates one rule and syncs the `alerts` table to what holds now
(opening, refreshing and clearing rows, then announcing to the webhook). They launch no runs.

- `stock_out_sensor` and `competitor_undercut_sensor` evaluate the rules in `pricing_platform/alerting/`;
- `quality_sensor` turns every asset check whose latest evaluation failed into an alert (critical for
  ERROR checks, warning for WARN), cleared when it passes again.
"""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import psycopg

from pricing_platform.alerting import rules
from pricing_platform.alerting.store import Alert
from pricing_platform.quality.checks import CHECKS
from pricing_platform.resources.alerting import AlertingResource
from pricing_platform.resources.postgres import PostgresResource


@dataclass(frozen=True)
class Evaluation:
    alerts: list[Alert]
    # Conditions that could not be evaluated this time: their open alerts stay as they are.
    undetermined: list[str] = field(default_factory=list)


Evaluate = Callable[[dg.SensorEvaluationContext, psycopg.Connection, AlertingResource], Evaluation]


def alert_sensor(
    name: str, kind: str, what: str, description: str, evaluate: Evaluate
) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"{description} Launches no runs.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, postgres: PostgresResource, alerting: AlertingResource
    ) -> dg.SkipReason:
        with postgres.connect() as conn:
            found = evaluate(context, conn, alerting)
            result = alerting.sync(conn, kind, found.alerts, context.log, undetermined=found.undetermined)
        return dg.SkipReason(result.summary(what))

    return _sensor


stock_out_sensor = alert_sensor(
    "stock_out_sensor",
    rules.STOCK,
    "stock",
    "Alerts on a product × warehouse at zero stock (critical) or running out within "
    "ALERT_STOCKOUT_HORIZON_H at its sales rate of the last ALERT_STOCK_VELOCITY_WINDOW_H (warning).",
    lambda _context, conn, alerting: Evaluation(rules.stock_alerts(conn, alerting)),
)

competitor_undercut_sensor = alert_sensor(
    "competitor_undercut_sensor",
    rules.COMPETITOR_UNDERCUT,
    "competitor undercut",
    "Alerts when a competitor is more than ALERT_UNDERCUT_PCT % below our current price on a product with "
    "fewer than ALERT_WEAK_DEMAND_VELOCITY purchases in the last hour.",
    lambda _context, conn, alerting: Evaluation(rules.undercut_alerts(conn, alerting)),
)


# ---- asset checks --------------------------------------------------------------------------------------

ASSET_CHECK = "asset_check"
SEVERITY_BY_CHECK_SEVERITY = {dg.AssetCheckSeverity.ERROR: "critical", dg.AssetCheckSeverity.WARN: "warning"}


def condition_key(check_key: dg.AssetCheckKey) -> str:
    return f"{ASSET_CHECK}:{check_key.to_user_string()}"


def check_alert(
    check_key: dg.AssetCheckKey, evaluation: dg.AssetCheckEvaluation, run_id: str, at: float
) -> Alert:
    asset = check_key.asset_key.to_user_string()
    context: dict[str, Any] = {
        "asset": asset,
        "check": check_key.name,
        "check_severity": evaluation.severity.value,
        "evaluated_at": datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds"),
        "run_id": run_id,
    }
    if evaluation.description:
        context["description"] = evaluation.description
    if evaluation.partition:
        context["partition"] = evaluation.partition
    context["metadata"] = _plain_metadata(evaluation.metadata)
    return Alert(
        condition_key=condition_key(check_key),
        kind=ASSET_CHECK,
        severity=SEVERITY_BY_CHECK_SEVERITY[evaluation.severity],
        title=f"Asset check {check_key.name} on {asset} failed",
        context=context,
    )


def _plain_metadata(metadata: Mapping[str, dg.MetadataValue]) -> dict[str, Any]:
    # Metadata values wrap ints, floats, text, JSON... and a few richer objects (tables, assets):
    # those are stored as text.
    plain: dict[str, Any] = {}
    for name, value in metadata.items():
        raw = value.value
        try:
            json.dumps(raw)
        except (TypeError, ValueError):
            raw = str(raw)
        plain[name] = raw
    return plain


def failed_checks(
    context: dg.SensorEvaluationContext, _conn: psycopg.Connection, _alerting: AlertingResource
) -> Evaluation:
    repository = context.repository_def
    if repository is None:
        raise dg.DagsterInvariantViolationError("quality_sensor needs the repository's definitions")
    found = Evaluation([])
    # This location's checks (the dbt tests among them) and every quality check, wherever it is defined:
    # the recommendations' checks run in the pricing engine's own code location.
    keys = set(repository.asset_graph.asset_check_keys)
    keys |= {dg.AssetCheckKey(dg.AssetKey(check.asset), check.name) for check in CHECKS}
    for check_key in sorted(keys, key=lambda k: k.to_user_string()):
        record = context.instance.get_latest_asset_check_evaluation_record(check_key)
        if record is None:
            continue  # never evaluated: nothing to report yet
        evaluation = record.evaluation
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            # Planned but not evaluated yet (in progress, or its run failed before the check reported):
            # the previous outcome still stands, so an open alert stays open.
            found.undetermined.append(condition_key(check_key))
            continue
        if not evaluation.passed:
            found.alerts.append(check_alert(check_key, evaluation, record.run_id, record.create_timestamp))
    # Checks no longer in the repository are neither current nor undetermined: their alerts clear.
    return found


quality_sensor = alert_sensor(
    "quality_sensor",
    ASSET_CHECK,
    "asset check",
    "Alerts on every asset check whose latest evaluation failed (critical for ERROR checks, warning for "
    "WARN), cleared when it passes again.",
    failed_checks,
)
