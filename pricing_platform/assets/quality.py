"""The quality checks (pricing_platform/quality/) as Dagster asset checks: one `@multi_asset_check` per
guarded table (one op, one connection, every check of that table, each selectable on its own), a job and a
schedule for the checks of the worker-fed tables, and blocking checks on the pricing engine's output.

- Checks on `pricing_recommendations` run with every materialisation of it (an asset job selecting an asset
  also selects its checks). Its ERROR checks are blocking: when one fails, the check step fails and every
  asset downstream of `pricing_recommendations` in the same run is skipped. The recommendations of the
  failing cycle are already written by then (the check reads what the asset wrote), so blocking protects
  what is computed from them, not the table itself.
- Checks on the external raw tables have no materialisation to ride on: `quality_checks_job` runs them on
  the in-process executor, every 5 minutes by `quality_checks_every_5_minutes`.

No `from __future__ import annotations`: Dagster resolves these functions' type hints when decorating.
"""

from collections.abc import Iterator

import dagster as dg

from pricing_platform.assets.scheduling import asset_job, schedule
from pricing_platform.core import tables
from pricing_platform.observability.metrics import CheckMeasure, push_quality_checks
from pricing_platform.quality.checks import checks_for, guarded_assets
from pricing_platform.quality.framework import CheckOutcome, QualityCheck, Severity, run_check
from pricing_platform.resources.metrics import PushgatewayResource
from pricing_platform.resources.postgres import PostgresResource
from pricing_platform.resources.quality import QualityResource

DAGSTER_SEVERITY = {Severity.ERROR: dg.AssetCheckSeverity.ERROR, Severity.WARN: dg.AssetCheckSeverity.WARN}


def check_key(check: QualityCheck) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(dg.AssetKey(check.asset), check.name)


def check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    metadata: dict[str, object] = {
        "offending_count": outcome.offending_count,
        "threshold": outcome.threshold,
        "sample": dg.MetadataValue.md(outcome.sample_markdown()),
        "sql": dg.MetadataValue.text(outcome.sql),
        "parameters": dg.MetadataValue.json(dict(outcome.params)),
        "duration_s": round(outcome.duration_s, 4),
    }
    if outcome.allowed:
        metadata["allowed"] = outcome.allowed
    if outcome.check.enforced_by:
        metadata["also_enforced_by"] = outcome.check.enforced_by
    if outcome.error is not None:
        metadata["error"] = outcome.error
    return dg.AssetCheckResult(
        asset_key=outcome.asset,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=DAGSTER_SEVERITY[outcome.severity],
        metadata=metadata,
        description=outcome.summary,
    )


def check_measure(outcome: CheckOutcome) -> CheckMeasure:
    return CheckMeasure(
        check=outcome.name,
        asset=outcome.asset,
        severity=outcome.severity.value.lower(),
        passed=outcome.passed,
        offending_rows=outcome.offending_count,
        seconds=outcome.duration_s,
    )


def build_asset_checks(asset: str) -> dg.AssetChecksDefinition:
    """Every registry check guarding `asset`, as one multi-asset check op."""
    checks = checks_for(asset)
    if not checks:
        raise ValueError(f"no quality checks guard {asset}")
    specs = [
        dg.AssetCheckSpec(
            name=check.name,
            asset=check.asset,
            description=check.description,
            blocking=check.blocking,
            metadata={"severity": check.severity.value}
            | ({"also_enforced_by": check.enforced_by} if check.enforced_by else {}),
        )
        for check in checks
    ]

    @dg.multi_asset_check(
        specs=specs,
        name=f"{asset}_quality_checks",
        can_subset=True,
        description=f"Data-quality checks of {asset} (pricing_platform/quality/checks/{asset}.py), one "
        "query each.",
    )
    def _quality_checks(
        context: dg.AssetCheckExecutionContext,
        postgres: PostgresResource,
        quality: QualityResource,
        pushgateway: PushgatewayResource,
    ) -> Iterator[dg.AssetCheckResult]:
        selected = context.selected_asset_check_keys
        outcomes: list[CheckOutcome] = []
        with postgres.connect() as conn:
            for check in checks:
                if check_key(check) not in selected:
                    continue
                outcome = run_check(conn, check, quality)
                if not outcome.passed:
                    context.log.warning("%s [%s] failed: %s", check.name, check.severity, outcome.summary)
                outcomes.append(outcome)
                yield check_result(outcome)
        push_quality_checks(pushgateway, [check_measure(o) for o in outcomes])

    return _quality_checks


# The worker-fed (external) tables: checked on a schedule rather than with a materialisation.
RAW_CHECKED_ASSETS: tuple[str, ...] = tuple(
    a for a in guarded_assets() if not any(c.blocking for c in checks_for(a))
)
# The recommendations' checks ride on every pricing run, in the pricing engine's code location
# (pricing_definitions.py); the worker-fed tables' checks are in definitions.py with the job below.
pricing_recommendation_checks = build_asset_checks(tables.PRICING_RECOMMENDATIONS)
worker_table_checks = [build_asset_checks(asset) for asset in RAW_CHECKED_ASSETS]
quality_checks: list[dg.AssetChecksDefinition] = [pricing_recommendation_checks, *worker_table_checks]

quality_checks_job = asset_job(
    "quality_checks_job",
    dg.AssetSelection.checks_for_assets(*RAW_CHECKED_ASSETS),
    "Runs the data-quality checks of the worker-fed tables (scheduled every 5 minutes).",
)
quality_checks_schedule = schedule("quality_checks_every_5_minutes", quality_checks_job, "*/5 * * * *")
