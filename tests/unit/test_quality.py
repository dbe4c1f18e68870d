"""The quality registry and its pure parts, without a database: every check is well formed, its query's
placeholders are exactly its parameters, thresholds come from the settings, outcomes render for people."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import dagster as dg
import pytest
from rich.console import Console

from pricing_platform.assets.quality import (
    RAW_CHECKED_ASSETS,
    build_asset_checks,
    check_result,
    quality_checks,
    quality_checks_job,
    quality_checks_schedule,
)
from pricing_platform.assets.raw_tables import raw_table_specs
from pricing_platform.core import catalog, tables
from pricing_platform.core.settings import Settings
from pricing_platform.quality import CHECKS, CHECKS_BY_NAME, CheckOutcome, Severity, Thresholds
from pricing_platform.quality.checks import guarded_assets
from pricing_platform.quality.cli import outcomes_table
from pricing_platform.quality.framework import SAMPLE_ROWS, format_value

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


def settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_required_checks_are_registered() -> None:
    assert set(REQUIRED.values()) <= set(CHECKS_BY_NAME)


def test_checks_are_well_formed() -> None:
    known_assets = {spec.key.to_user_string() for spec in raw_table_specs()} | {
        tables.PRICING_RECOMMENDATIONS
    }
    assert len(CHECKS_BY_NAME) == len(CHECKS), "names are unique"
    for check in CHECKS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", check.name), check.name
        assert check.asset in known_assets, f"{check.name} guards {check.asset}, which is not an asset"
        assert check.description.endswith("."), check.name
        assert check.threshold(Thresholds.from_settings(settings()))


def test_each_query_uses_exactly_its_parameters() -> None:
    thresholds = Thresholds.from_settings(settings())
    for check in CHECKS:
        text = check.statement().as_string(None)
        assert "%s" not in text, f"{check.name}: named placeholders only"
        placeholders = set(re.findall(r"%\((\w+)\)s", text))
        assert placeholders == set(check.params(thresholds)), check.name
        assert f"LIMIT {SAMPLE_ROWS}" in text


def test_thresholds_come_from_the_settings() -> None:
    base = settings()
    defaults = Thresholds.from_settings(base)
    assert defaults.freshness_max_age_s == base.quality_freshness_max_age_s == 300
    assert defaults.dead_letter_max_per_hour == base.quality_dead_letter_max_per_hour == 100
    assert defaults.max_future_skew_s == base.ingest_max_future_skew_s == 300
    custom = Thresholds.from_settings(
        base.model_copy(update={"ingest_max_future_skew_s": 60, "kafka_group_prefix": "blue"})
    )
    assert custom.max_future_skew_s == 60 and custom.group_prefix == "blue"
    fresh = CHECKS_BY_NAME["inventory_stream_fresh"].params(custom)
    assert fresh["consumer_group"] == "blue-inventory" and fresh["topic"] == "raw.inventory_updates"
    assert CHECKS_BY_NAME["clickstream_no_future_timestamps"].params(custom) == {
        "max_skew": timedelta(seconds=60)
    }


def test_slot_count_is_derived_from_the_catalog() -> None:
    check = CHECKS_BY_NAME["inventory_slot_count_matches_catalog"]
    params = check.params(Thresholds.from_settings(settings()))
    expected = len(catalog.PRODUCTS) * len(catalog.WAREHOUSES)
    assert len(params["product_ids"]) == len(params["warehouse_ids"]) == expected == 90
    assert len(set(zip(params["product_ids"], params["warehouse_ids"], strict=True))) == expected
    assert "exactly 90 rows" in check.threshold(Thresholds.from_settings(settings()))


def test_only_error_checks_of_the_pricing_asset_block() -> None:
    blocking = {
        spec.name for definition in quality_checks for spec in definition.check_specs if spec.blocking
    }
    assert blocking == {
        c.name for c in CHECKS if c.asset == tables.PRICING_RECOMMENDATIONS and c.severity is Severity.ERROR
    }
    assert set(RAW_CHECKED_ASSETS) == set(guarded_assets()) - {tables.PRICING_RECOMMENDATIONS}
    assert sum(len(list(d.check_specs)) for d in quality_checks) == len(CHECKS)
    with pytest.raises(ValueError, match="no quality checks"):
        build_asset_checks(tables.PRODUCTS)


def test_schedule_runs_the_raw_checks_every_five_minutes() -> None:
    assert quality_checks_schedule.cron_schedule == "*/5 * * * *"
    assert quality_checks_schedule.job_name == quality_checks_job.name == "quality_checks_job"
    assert quality_checks_schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def outcome(**overrides: object) -> CheckOutcome:
    values: dict[str, object] = {
        "check": CHECKS_BY_NAME["clickstream_valid_device_types"],
        "passed": False,
        "offending_count": 12,
        "allowed": 0,
        "threshold": "0 events with a device type outside the contract",
        "columns": ("event_id", "device_type", "event_time", "note"),
        "sample": tuple(
            ("e1", "smart|tv", datetime(2026, 11, 26, 12, 0, 1, 123, tzinfo=UTC), "two\nlines")
            for _ in range(SAMPLE_ROWS)
        ),
        "sql": "SELECT 1",
        "params": {"device_types": ["mobile"]},
        "duration_s": 0.01,
    }
    values.update(overrides)
    return CheckOutcome(**values)  # type: ignore[arg-type]


def test_sample_markdown_is_a_table_a_person_can_read() -> None:
    text = outcome().sample_markdown()
    lines = text.splitlines()
    assert lines[0] == "| event_id | device_type | event_time | note |"
    assert lines[2] == "| e1 | smart\\|tv | 2026-11-26T12:00:01+00:00 | two lines |"
    assert lines[-1] == "10 of 12 offending rows shown"
    assert outcome(sample=(), offending_count=0, passed=True).sample_markdown() == "no offending rows"
    assert "query failed" in outcome(error="UndefinedColumn: x").sample_markdown()


def test_values_are_formatted_for_people() -> None:
    assert format_value(None) == "NULL"
    assert format_value(Decimal("1.500")) == "1.500"
    assert format_value(timedelta(minutes=10)) == "0:10:00"
    assert format_value(["a", None]) == "[a, NULL]"
    assert format_value("x" * 200).endswith("…") and len(format_value("x" * 200)) == 80


def test_summary_and_dagster_result() -> None:
    failed = outcome()
    assert failed.summary == "12 offending row(s); expected 0 events with a device type outside the contract"
    tolerated = outcome(
        check=CHECKS_BY_NAME["clickstream_dead_letters_within_limit"], allowed=100, passed=True
    )
    assert "(at most 100 allowed)" in tolerated.summary

    result = check_result(failed)
    assert result.asset_key == dg.AssetKey(tables.CLICKSTREAM_EVENTS)
    assert result.check_name == "clickstream_valid_device_types"
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.metadata["offending_count"].value == 12
    assert result.metadata["sql"].value == "SELECT 1"
    assert result.metadata["threshold"].value == failed.threshold
    assert set(result.metadata) == {
        "offending_count",
        "threshold",
        "sample",
        "sql",
        "parameters",
        "duration_s",
    }
    enforced = check_result(outcome(check=CHECKS_BY_NAME["inventory_stock_not_negative"]))
    assert "stock_not_negative" in str(enforced.metadata["also_enforced_by"].value)


def test_the_cli_path_does_not_import_dagster() -> None:
    code = "import sys, pricing_platform.quality.cli; sys.exit('dagster' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_results_table_shows_status_and_count_of_every_check_at_80_columns() -> None:
    outcomes = [
        outcome(check=c, passed=True, offending_count=0, sample=())
        if c.name != "competitor_latest_matches_newest_observation"
        else outcome(check=c, passed=False, offending_count=7)
        for c in CHECKS
    ]
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    console.print(outcomes_table(outcomes))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if re.match(r"^│ (PASS|FAIL|ERROR) ", line)]
    assert len(rows) == len(CHECKS), "one row per check, its status visible"
    assert all(re.match(r"^│ PASS +│ (ERROR|WARN) +│ +0 │", row) for row in rows if "PASS" in row[:8])
    [failed] = [row for row in rows if row.startswith("│ FAIL")]
    assert re.match(r"^│ FAIL +│ ERROR +│ +7 │ competitor_latest_", failed), failed
