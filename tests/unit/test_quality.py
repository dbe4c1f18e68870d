"""The quality registry and its pure parts, without a database: every check is one well-formed
great-expectations Expectation (built-in unless it says why not), thresholds come from the settings,
outcomes render for people, and neither the CLI path nor the pricing run imports what it must not."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import dagster as dg
import great_expectations.expectations as gxe
from rich.console import Console

from pricing_platform.assets.quality import (
    RAW_CHECKED_ASSETS,
    check_evaluation,
    check_result,
    quality_checks,
    quality_checks_job,
    quality_checks_schedule,
)
from pricing_platform.assets.raw_tables import raw_table_specs
from pricing_platform.core import catalog, tables
from pricing_platform.core.settings import Settings
from pricing_platform.quality import CHECKS, CHECKS_BY_NAME, CheckOutcome, Severity, Thresholds
from pricing_platform.quality.checks import datasets, guarded_assets
from pricing_platform.quality.checks.pricing_recommendations import cycle_rows
from pricing_platform.quality.cli import outcomes_table
from pricing_platform.quality.framework import SAMPLE_ROWS, UNEXPECTED_ROWS, Scope, format_value

# The assertions the platform asked for, each by its check.
REQUIRED = {
    "no negative stock": "inventory_stock_not_negative",
    "exactly 30 × 3 inventory rows": "inventory_slot_count_matches_catalog",
    "stock ≤ 100,000 per slot": "inventory_stock_within_max",
    "valid clickstream event types": "clickstream_valid_event_types",
    "valid inventory event types": "inventory_events_valid_event_types",
    "clickstream products resolve": "clickstream_products_exist",
    "no future timestamps": "clickstream_no_future_timestamps",
    "clickstream not empty": "clickstream_not_empty",
    "competitor prices positive": "competitor_prices_positive",
    "price difference within ±80 %": "competitor_price_difference_within_bound",
    "known competitor names": "competitor_names_known",
    "recommendations raise/lower/hold": "recommendations_valid_action",
    "confidence in [0, 1]": "recommendations_confidence_in_range",
    "recommendations reference known products": "recommendations_known_products",
}
# The checks GX has no built-in Expectation for (the README lists them with the reason).
UNEXPECTED_ROWS_CHECKS = {
    "inventory_slot_count_matches_catalog",
    "inventory_stock_equals_applied_movements",
    "competitor_latest_matches_newest_observation",
}
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def thresholds() -> Thresholds:
    return Thresholds.from_settings(settings())


def test_required_checks_are_registered() -> None:
    assert set(REQUIRED.values()) <= set(CHECKS_BY_NAME)


def test_every_check_is_one_expectation_built_in_unless_it_says_why() -> None:
    known_assets = {spec.key.to_user_string() for spec in raw_table_specs()} | {
        tables.PRICING_RECOMMENDATIONS
    }
    assert len(CHECKS_BY_NAME) == len(CHECKS) == 28, "names are unique"
    for check in CHECKS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", check.name), check.name
        assert check.asset in known_assets, f"{check.name} guards {check.asset}, which is not an asset"
        assert check.description.endswith("."), check.name
        assert check.threshold(thresholds())
        expectation = check.build(thresholds(), Scope(NOW))
        assert isinstance(expectation, gxe.Expectation)
        assert expectation.meta == {"check": check.name, "asset": check.asset}
        assert expectation.severity == ("critical" if check.severity is Severity.ERROR else "warning")
        kind = type(expectation).__name__
        assert (kind == UNEXPECTED_ROWS) == (check.name in UNEXPECTED_ROWS_CHECKS), check.name
        if kind == UNEXPECTED_ROWS:
            assert check.why_sql and "{batch}" in expectation.unexpected_rows_query, check.name


def test_time_bounds_come_from_the_run_and_the_settings() -> None:
    custom = Thresholds.from_settings(
        settings().model_copy(update={"ingest_max_future_skew_s": 60, "kafka_group_prefix": "blue"})
    )
    assert custom.max_future_skew_s == 60 and custom.group_prefix == "blue"
    future = CHECKS_BY_NAME["clickstream_no_future_timestamps"].build(custom, Scope(NOW))
    assert future.max_value == NOW + timedelta(seconds=60)
    fresh = CHECKS_BY_NAME["inventory_stream_fresh"].build(custom, Scope(NOW))
    assert fresh.min_value == NOW - timedelta(seconds=custom.freshness_max_age_s)
    condition = str(fresh.row_condition)
    assert "blue-inventory" in condition and "raw.inventory_updates" in condition
    dead = CHECKS_BY_NAME["clickstream_dead_letters_within_limit"].build(custom, Scope(NOW))
    assert dead.max_value == custom.dead_letter_max_per_hour == 100


def test_thresholds_come_from_the_settings() -> None:
    base = settings()
    defaults = Thresholds.from_settings(base)
    assert defaults.freshness_max_age_s == base.quality_freshness_max_age_s == 300
    assert defaults.dead_letter_max_per_hour == base.quality_dead_letter_max_per_hour == 100
    assert defaults.max_future_skew_s == base.ingest_max_future_skew_s == 300
    within = CHECKS_BY_NAME["inventory_stock_within_max"].build(defaults, Scope(NOW))
    assert within.max_value == base.quality_max_stock_per_slot == 100_000


def test_slot_check_compares_with_the_catalog_grid() -> None:
    check = CHECKS_BY_NAME["inventory_slot_count_matches_catalog"]
    query = check.build(thresholds(), Scope(NOW)).unexpected_rows_query
    pairs = set(re.findall(r"\('(P\d{3})', '(WH-[A-Z]+)'\)", query))
    assert len(pairs) == len(catalog.PRODUCTS) * len(catalog.WAREHOUSES) == 90
    assert "exactly 90 rows" in check.threshold(thresholds())
    assert "{{" not in query and query.count("{batch}") == 1


def test_recommendation_checks_look_at_one_cycle() -> None:
    cycle = UUID("0193a1d2-0000-7000-8000-000000000001")
    assert f"cycle_id = '{cycle.hex}'::uuid" in cycle_rows(Scope(NOW, cycle))
    newest = cycle_rows(Scope(NOW))
    assert "ORDER BY created_at DESC, recommendation_id DESC LIMIT 1" in newest
    assert {d.name for d in datasets()} == {
        "inventory_state",
        "inventory_events",
        "ingest_offsets",
        "dead_letters_last_hour",
        "clickstream_events",
        "competitor_prices",
        "competitor_prices_latest",
        "pricing_cycle",
    }


def test_only_error_checks_of_the_pricing_asset_block() -> None:
    blocking = {
        spec.name for definition in quality_checks for spec in definition.check_specs if spec.blocking
    }
    assert blocking == {
        c.name for c in CHECKS if c.asset == tables.PRICING_RECOMMENDATIONS and c.severity is Severity.ERROR
    }
    assert set(RAW_CHECKED_ASSETS) == set(guarded_assets()) - {tables.PRICING_RECOMMENDATIONS}
    assert sum(len(list(d.check_specs)) for d in quality_checks) == len(CHECKS)


def test_schedule_runs_the_raw_checks_every_five_minutes() -> None:
    assert quality_checks_schedule.cron_schedule == "*/5 * * * *"
    assert quality_checks_schedule.job_name == quality_checks_job.name == "quality_checks_job"
    assert quality_checks_schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def outcome(**overrides: object) -> CheckOutcome:
    values: dict[str, object] = {
        "check": CHECKS_BY_NAME["clickstream_valid_device_types"],
        "passed": False,
        "threshold": "0 events with a device type outside the contract",
        "expectation": "ExpectColumnValuesToBeInSet",
        "kwargs": {"column": "device_type", "value_set": ["mobile"]},
        "unexpected_count": 12,
        "element_count": 6000,
        "sample": tuple(
            {
                "event_id": "e1",
                "device_type": "smart|tv",
                "event_time": datetime(2026, 11, 26, 12, 0, 1, 123, tzinfo=UTC),
                "note": "two\nlines",
            }
            for _ in range(SAMPLE_ROWS)
        ),
        "duration_s": 0.01,
        "data_docs": "file:///docs/validations/clickstream_events/x.html",
    }
    values.update(overrides)
    return CheckOutcome(**values)  # type: ignore[arg-type]


def aggregate(**overrides: object) -> CheckOutcome:
    values: dict[str, object] = {
        "check": CHECKS_BY_NAME["clickstream_stream_fresh"],
        "expectation": "ExpectColumnMaxToBeBetween",
        "threshold": "newest ingest commit of raw.clickstream younger than 300 s",
        "kwargs": {"column": "updated_at"},
        "passed": False,
        "unexpected_count": None,
        "element_count": None,
        "sample": (),
        "observed_value": datetime(2026, 11, 26, 11, 50, tzinfo=UTC),
    }
    values.update(overrides)
    return outcome(**values)


def test_sample_markdown_is_a_table_a_person_can_read() -> None:
    text = outcome().sample_markdown()
    lines = text.splitlines()
    assert lines[0] == "| event_id | device_type | event_time | note |"
    assert lines[2] == "| e1 | smart\\|tv | 2026-11-26T12:00:01+00:00 | two lines |"
    assert lines[-1] == "10 of 12 unexpected rows shown"
    assert outcome(sample=(), unexpected_count=0, passed=True).sample_markdown() == "no unexpected rows"
    assert "could not be evaluated" in outcome(error="UndefinedColumn: x").sample_markdown()
    assert aggregate().sample_markdown() == "observed value: 2026-11-26T11:50:00+00:00"
    assert aggregate(observed_value=None).sample_markdown() == "observed value: no rows to measure"


def test_values_are_formatted_for_people() -> None:
    assert format_value(None) == "NULL"
    assert format_value(Decimal("1.500")) == "1.500"
    assert format_value(timedelta(minutes=10)) == "0:10:00"
    assert format_value(["a", None]) == "[a, NULL]"
    assert format_value("x" * 200).endswith("…") and len(format_value("x" * 200)) == 80


def test_summary_counts_and_the_dagster_result() -> None:
    failed = outcome()
    assert failed.summary == (
        "12 unexpected row(s) of 6,000; expected 0 events with a device type outside the contract"
    )
    assert failed.count == failed.offending_rows == 12
    dead = outcome(
        check=CHECKS_BY_NAME["clickstream_dead_letters_within_limit"],
        expectation="ExpectTableRowCountToBeBetween",
        unexpected_count=None,
        element_count=None,
        sample=(),
        observed_value=2,
        passed=True,
    )
    assert dead.summary.startswith("observed 2;") and dead.count == 2 and dead.offending_rows == 0
    assert aggregate().count is None and aggregate().offending_rows == 1
    assert aggregate(observed_value=None).summary.startswith("no rows to measure;")

    result = check_result(failed)
    assert result.asset_key == dg.AssetKey(tables.CLICKSTREAM_EVENTS)
    assert result.check_name == "clickstream_valid_device_types"
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.metadata["unexpected_count"].value == 12
    assert result.metadata["element_count"].value == 6000
    assert result.metadata["threshold"].value == failed.threshold
    assert result.metadata["expectation"].value == "ExpectColumnValuesToBeInSet"
    assert result.metadata["data_docs"].value == failed.data_docs
    assert set(result.metadata) == {
        "threshold",
        "expectation",
        "expectation_kwargs",
        "sample",
        "duration_s",
        "unexpected_count",
        "element_count",
        "data_docs",
    }
    stale = check_result(aggregate())
    assert stale.metadata["observed_value"].value == "2026-11-26T11:50:00+00:00"
    assert "unexpected_count" not in stale.metadata
    enforced = check_result(outcome(check=CHECKS_BY_NAME["inventory_stock_not_negative"]))
    assert "stock_not_negative" in str(enforced.metadata["also_enforced_by"].value)

    cycle = UUID("0193a1d2-0000-7000-8000-000000000001")
    evaluation = check_evaluation(
        outcome(check=CHECKS_BY_NAME["recommendations_confidence_in_range"], cycle_id=cycle)
    )
    assert evaluation.asset_key == dg.AssetKey(tables.PRICING_RECOMMENDATIONS)
    assert evaluation.blocking and evaluation.metadata["cycle_id"].value == str(cycle)


def test_the_cli_path_imports_neither_dagster_nor_great_expectations_until_it_runs() -> None:
    code = (
        "import sys, pricing_platform.quality.cli; "
        "sys.exit(bool({'dagster', 'great_expectations'} & set(sys.modules)))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_pricing_run_imports_none_of_the_heavy_packages() -> None:
    """What a lean pricing code location loads (the asset, its job and schedule, the specs of its checks,
    the resources it uses) imports neither great-expectations nor dbt, pandas, boto3 or dagster-aws: the
    checks' Expectations are built, and GX imported, only when they run."""
    code = """
import sys
from pricing_platform.assets.pricing import pricing_job, pricing_recommendations, pricing_schedule
from pricing_platform.assets.quality import pricing_recommendation_checks
from pricing_platform.core.settings import Settings
from pricing_platform.resources.metrics import PushgatewayResource
from pricing_platform.resources.pricing import PricingEngineResource
from pricing_platform.resources.quality import QualityResource
settings = Settings(_env_file=None)
for resource in (PushgatewayResource, PricingEngineResource, QualityResource):
    resource.from_settings(settings)
heavy = {"great_expectations", "dagster_dbt", "dbt", "pandas", "boto3", "botocore", "dagster_aws"}
print(sorted(heavy & {name.split(".")[0] for name in sys.modules}))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]", run.stdout + run.stderr


def test_the_results_table_shows_status_and_count_of_every_check_at_80_columns() -> None:
    outcomes = [
        outcome(check=c, passed=True, unexpected_count=0, sample=())
        if c.name != "competitor_latest_matches_newest_observation"
        else outcome(check=c, passed=False, unexpected_count=7)
        for c in CHECKS
    ]
    outcomes[0] = aggregate(check=outcomes[0].check, passed=True)  # an aggregate: no count to show
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    console.print(outcomes_table(outcomes))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if re.match(r"^│ (PASS|FAIL|ERROR) ", line)]
    assert len(rows) == len(CHECKS), "one row per check, its status visible"
    assert re.match(r"^│ PASS +│ ERROR +│ +— │", rows[0]), rows[0]
    assert all(re.match(r"^│ PASS +│ (ERROR|WARN) +│ +0 │", row) for row in rows[1:] if "PASS" in row[:8])
    [failed] = [row for row in rows if row.startswith("│ FAIL")]
    assert re.match(r"^│ FAIL +│ ERROR +│ +7 │ competitor_latest_", failed), failed
