"""The quality checks (pricing_platform/quality/) as Dagster asset checks. Each check is one
great-expectations Expectation; one definition serves the asset checks, `pricing-platform quality` and the
GX Data Docs report.

- The worker-fed (external) tables have no materialisation to ride on: `raw_table_quality_checks` (one
  op validating every suite of those tables, each check selectable on its own) runs in
  `quality_checks_job`, every 5 minutes by `quality_checks_every_5_minutes`, and writes the Data Docs.
- `pricing_recommendations` is checked one cycle at a time by `recommendation_checks_sensor`
  (sensors/quality.py) in the long-lived code server, so the every-minute pricing run never imports
  great-expectations; its evaluations attach to the asset through the sensor's asset events, whichever
  code location defines the asset. The ERROR checks are blocking: the verdict goes to the checked-cycle
  table and the marts read only cycles that passed (quality/cycles.py). `pricing_recommendation_checks`
  declares the checks next to the asset (their specs, blocking flags) and, run from the UI or the CI
  stage, checks the newest cycle the same way.

No `from __future__ import annotations`: Dagster resolves these functions' type hints when decorating.
"""

from collections.abc import Iterable, Iterator, Sequence

import dagster as dg

# Not exported by `dagster`; names the materialisation an evaluation checked (sensor-reported evaluations).
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from pricing_platform.assets.scheduling import asset_job, schedule
from pricing_platform.core import tables
from pricing_platform.observability.metrics import CheckMeasure, push_quality_checks
from pricing_platform.quality.checks import CHECKS, guarded_assets
from pricing_platform.quality.cycles import RECOMMENDATION_CHECKS, newest_cycle
from pricing_platform.quality.framework import CheckOutcome, QualityCheck, Severity, format_value
from pricing_platform.resources.metrics import PushgatewayResource
from pricing_platform.resources.postgres import PostgresResource
from pricing_platform.resources.quality import QualityResource

DAGSTER_SEVERITY = {Severity.ERROR: dg.AssetCheckSeverity.ERROR, Severity.WARN: dg.AssetCheckSeverity.WARN}

# The worker-fed (external) tables: checked on a schedule rather than with a materialisation.
RAW_CHECKED_ASSETS: tuple[str, ...] = tuple(
    a for a in guarded_assets() if a != tables.PRICING_RECOMMENDATIONS
)
RAW_CHECKS: tuple[QualityCheck, ...] = tuple(c for c in CHECKS if c.asset in RAW_CHECKED_ASSETS)


def check_key(check: QualityCheck) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(dg.AssetKey(check.asset), check.name)


def check_spec(check: QualityCheck) -> dg.AssetCheckSpec:
    metadata = {"severity": check.severity.value, "dataset": check.dataset.name}
    if check.enforced_by:
        metadata["also_enforced_by"] = check.enforced_by
    if check.why_sql:
        metadata["why_sql"] = check.why_sql
    return dg.AssetCheckSpec(
        name=check.name,
        asset=check.asset,
        description=check.description,
        blocking=check.blocking,
        metadata=metadata,
    )


def _observed(value: object) -> dg.MetadataValue:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return dg.MetadataValue.text(format_value(value))
    return dg.MetadataValue.int(value) if isinstance(value, int) else dg.MetadataValue.float(value)


def check_metadata(outcome: CheckOutcome) -> dict[str, object]:
    """What a person needs to act on a result: what GX observed, how many rows broke the rule and which,
    the rule with its numbers, the Expectation as run and its Data Docs page."""
    metadata: dict[str, object] = {
        "threshold": outcome.threshold,
        "expectation": outcome.expectation,
        "expectation_kwargs": dg.MetadataValue.json(dict(outcome.kwargs)),
        "sample": dg.MetadataValue.md(outcome.sample_markdown()),
        "duration_s": round(outcome.duration_s, 4),
    }
    if outcome.unexpected_count is not None:
        metadata["unexpected_count"] = outcome.unexpected_count
    if outcome.element_count is not None:
        metadata["element_count"] = outcome.element_count
    if outcome.unexpected_count is None or outcome.observed_value is not None:
        metadata["observed_value"] = _observed(outcome.observed_value)
    if outcome.data_docs:
        metadata["data_docs"] = dg.MetadataValue.url(outcome.data_docs)
    if outcome.cycle_id is not None:
        metadata["cycle_id"] = str(outcome.cycle_id)
    if outcome.check.enforced_by:
        metadata["also_enforced_by"] = outcome.check.enforced_by
    if outcome.error is not None:
        metadata["error"] = outcome.error
    return metadata


def check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=outcome.asset,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=DAGSTER_SEVERITY[outcome.severity],
        metadata=check_metadata(outcome),
        description=outcome.summary,
    )


def check_evaluation(
    outcome: CheckOutcome, target: AssetCheckEvaluationTargetMaterializationData | None = None
) -> dg.AssetCheckEvaluation:
    """The same result as an event a sensor reports (no run executes the check)."""
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(outcome.asset),
        check_name=outcome.name,
        passed=outcome.passed,
        severity=DAGSTER_SEVERITY[outcome.severity],
        metadata=check_metadata(outcome),
        description=outcome.summary,
        blocking=outcome.check.blocking,
        target_materialization_data=target,
    )


def check_measure(outcome: CheckOutcome) -> CheckMeasure:
    return CheckMeasure(
        check=outcome.name,
        asset=outcome.asset,
        severity=outcome.severity.value.lower(),
        passed=outcome.passed,
        offending_rows=outcome.offending_rows,
        seconds=outcome.duration_s,
    )


def _selected(context: dg.AssetCheckExecutionContext, checks: Iterable[QualityCheck]) -> list[QualityCheck]:
    selected = context.selected_asset_check_keys
    return [c for c in checks if check_key(c) in selected]


def _report(
    context: dg.AssetCheckExecutionContext, outcomes: Sequence[CheckOutcome], pushgateway: PushgatewayResource
) -> Iterator[dg.AssetCheckResult]:
    for outcome in outcomes:
        if not outcome.passed:
            context.log.warning("%s [%s] failed: %s", outcome.name, outcome.severity, outcome.summary)
        yield check_result(outcome)
    push_quality_checks(pushgateway, [check_measure(o) for o in outcomes])


@dg.multi_asset_check(
    specs=[check_spec(c) for c in RAW_CHECKS],
    name="raw_table_quality_checks",
    can_subset=True,
    description="The data-quality checks of the worker-fed tables (pricing_platform/quality/checks/): "
    "great-expectations suites validated in PostgreSQL, one Expectation per check; writes the Data Docs.",
)
def raw_table_quality_checks(
    context: dg.AssetCheckExecutionContext,
    postgres: PostgresResource,
    quality: QualityResource,
    pushgateway: PushgatewayResource,
) -> Iterator[dg.AssetCheckResult]:
    validation = quality.validate(postgres.conninfo, _selected(context, RAW_CHECKS))
    for warning in validation.warnings:
        context.log.warning(warning)
    if validation.data_docs_index:
        context.log.info("Data Docs: %s", validation.data_docs_index)
    yield from _report(context, validation.outcomes, pushgateway)


@dg.multi_asset_check(
    specs=[check_spec(c) for c in RECOMMENDATION_CHECKS],
    name="pricing_recommendation_checks",
    can_subset=True,
    description="The checks of a pricing cycle (pricing_platform/quality/checks/pricing_recommendations.py). "
    "recommendation_checks_sensor evaluates every new cycle; run here, they check the newest cycle and "
    "record its verdict for the marts.",
)
def pricing_recommendation_checks(
    context: dg.AssetCheckExecutionContext,
    postgres: PostgresResource,
    quality: QualityResource,
    pushgateway: PushgatewayResource,
) -> Iterator[dg.AssetCheckResult]:
    with postgres.connect() as conn:
        cycle = newest_cycle(conn)
    if cycle is None:
        raise dg.Failure("pricing_recommendations holds no cycle yet: run pricing_engine_job first")
    verdict = quality.check_cycle(postgres.conninfo, cycle)
    context.log.info(
        "cycle %s %s for the marts", cycle.cycle_id, "passed" if verdict.passed else "is withheld (failed)"
    )
    selected = {c.name for c in _selected(context, RECOMMENDATION_CHECKS)}
    yield from _report(context, [o for o in verdict.outcomes if o.name in selected], pushgateway)


# The worker-fed tables' checks go with the scheduled job below; the recommendations' with the pricing
# asset, in whichever code location defines it (their evaluations come from recommendation_checks_sensor).
worker_table_checks: list[dg.AssetChecksDefinition] = [raw_table_quality_checks]
quality_checks: list[dg.AssetChecksDefinition] = [*worker_table_checks, pricing_recommendation_checks]

quality_checks_job = asset_job(
    "quality_checks_job",
    dg.AssetSelection.checks_for_assets(*RAW_CHECKED_ASSETS),
    "Runs the data-quality checks of the worker-fed tables and writes the Data Docs (every 5 minutes).",
)
quality_checks_schedule = schedule("quality_checks_every_5_minutes", quality_checks_job, "*/5 * * * *")
