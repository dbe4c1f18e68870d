"""Alerts on asset checks whose latest evaluation failed, until they pass again."""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from pricing_platform.alerts import Alert
from pricing_platform.resources.alerting import AlertingResource
from pricing_platform.resources.postgres import PostgresResource

KIND = "asset_check"
SEVERITY_BY_CHECK_SEVERITY = {dg.AssetCheckSeverity.ERROR: "critical", dg.AssetCheckSeverity.WARN: "warning"}


def condition_key(check_key: dg.AssetCheckKey) -> str:
    return f"{KIND}:{check_key.to_user_string()}"


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
        kind=KIND,
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


@dg.sensor(
    name="quality_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts on every asset check whose latest evaluation failed (critical for ERROR checks, "
    "warning for WARN), cleared when it passes again. Launches no runs.",
)
def quality_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource, alerting: AlertingResource
) -> dg.SkipReason:
    repository = context.repository_def
    if repository is None:
        raise dg.DagsterInvariantViolationError("quality_sensor needs the repository's definitions")
    alerts: list[Alert] = []
    undetermined: list[str] = []
    for check_key in sorted(repository.asset_graph.asset_check_keys, key=lambda k: k.to_user_string()):
        record = context.instance.get_latest_asset_check_evaluation_record(check_key)
        if record is None:
            continue  # never evaluated: nothing to report yet
        evaluation = record.evaluation
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            # Planned but not evaluated yet (in progress, or its run failed before the check reported):
            # the previous outcome still stands, so an open alert stays open.
            undetermined.append(condition_key(check_key))
            continue
        if not evaluation.passed:
            alerts.append(check_alert(check_key, evaluation, record.run_id, record.create_timestamp))
    # Checks no longer in the repository are neither current nor undetermined: their alerts clear.
    with postgres.connect() as conn:
        result = alerting.sync(conn, KIND, alerts, context.log, undetermined=undetermined)
    return dg.SkipReason(result.summary("asset check"))
