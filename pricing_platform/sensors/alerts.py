"""The alert sensors: every 60 s each evaluates one rule and syncs the `alerts` table to what holds now
(opening, refreshing and clearing rows, then announcing to the webhook). They launch no runs.

- `stock_out_sensor`, `competitor_undercut_sensor` and `competitor_price_move_sensor` evaluate the rules
  in `pricing_platform/alerting/`; their alerts clear after ALERT_CLEAR_AFTER_EVALUATIONS evaluations in a
  row without the condition (measurements flap around a threshold);
- `quality_sensor` turns every asset check whose latest evaluation failed into an alert (critical for
  ERROR checks, warning for WARN), cleared as soon as it passes again (a check's outcome is already a
  verdict, and it changes only when the check runs again).
"""

import functools
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
    # Conditions that keep an open alert open but do not open one (between a clear and an open threshold).
    holding: list[Alert] = field(default_factory=list)
    # Conditions that could not be evaluated this time: their open alerts stay as they are.
    undetermined: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, found: rules.Found) -> "Evaluation":
        return cls(found.alerts, found.holding)


Evaluate = Callable[[dg.SensorEvaluationContext, psycopg.Connection, AlertingResource], Evaluation]
# Given the resource's rules, whether an open alert is news again (see `store.Renotify`).
RenotifyRule = Callable[[rules.AlertRules, Mapping[str, Any], Alert], bool]


def alert_sensor(
    name: str,
    kind: str,
    what: str,
    description: str,
    evaluate: Evaluate,
    *,
    hysteresis: bool = True,
    renotify: RenotifyRule | None = None,
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
            result = alerting.sync(
                conn,
                kind,
                found.alerts,
                context.log,
                holding=found.holding,
                undetermined=found.undetermined,
                hysteresis=hysteresis,
                renotify=None if renotify is None else functools.partial(renotify, alerting),
            )
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
    "Alerts on an undercut the stream processor has opened (a competitor more than UNDERCUT_PCT % below "
    "our price; it clears below UNDERCUT_CLEAR_PCT) on a product with fewer than "
    "ALERT_WEAK_DEMAND_VELOCITY purchases in the last hour, while the competitor's price is fresh and "
    "trusted by the price gate. The repricer has already repriced the product when it opened.",
    lambda _context, conn, alerting: Evaluation.of(rules.undercut_alerts(conn, alerting)),
)

competitor_price_move_sensor = alert_sensor(
    "competitor_price_move_sensor",
    rules.COMPETITOR_PRICE_MOVE,
    "competitor price move",
    "Alerts when a competitor's fresh price is at least ALERT_PRICE_MOVE_MIN_PCT % up or down "
    "(ALERT_PRICE_MOVE_DIRECTION) from its price ALERT_PRICE_MOVE_WINDOW_H ago, and announces it again "
    "each time the price moves that much further.",
    lambda _context, conn, alerting: Evaluation.of(rules.price_move_alerts(conn, alerting)),
    renotify=rules.price_moved_further,
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
    hysteresis=False,
)
