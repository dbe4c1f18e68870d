"""The data-quality checks (great-expectations suites) against the real per-test database: clean data written
by the real ingest sinks and a real pricing cycle passes every check; one crafted bad row (or a dropped
constraint) fails exactly the check that guards against it; the checks run through Dagster (the raw-table
check job with its Data Docs, the recommendation sensor and its checked-cycle watermark, blocking checks
with the pricing asset) and through the `quality` command."""

# No `from __future__ import annotations`: this module defines Dagster assets.

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import msgspec
import numpy as np
import psycopg
import pytest

from ingest_workers.batch import DeadLetter
from ingest_workers.dead_letters import write_dead_letters
from ingest_workers.offsets import advance
from ingest_workers.sinks import ClickstreamSink, CompetitorSink, InventorySink
from pricing_platform.assets.pricing import pricing_job, pricing_recommendations, pricing_schedule
from pricing_platform.assets.quality import (
    RAW_CHECKED_ASSETS,
    pricing_recommendation_checks,
    quality_checks,
    quality_checks_job,
    quality_checks_schedule,
)
from pricing_platform.assets.raw_tables import raw_table_specs
from pricing_platform.core import tables
from pricing_platform.core.catalog import PRODUCTS_BY_ID, TOPICS, Stream, consumer_group
from pricing_platform.core.events import ClickstreamEvent
from pricing_platform.core.settings import Settings
from pricing_platform.pricing import cycle
from pricing_platform.pricing.cycle import run_cycle
from pricing_platform.pricing.rules import PricingRules
from pricing_platform.quality import CHECKS, CHECKS_BY_NAME, CheckOutcome, Thresholds
from pricing_platform.quality.checks import checks_for
from pricing_platform.quality.cli import quality_command
from pricing_platform.quality.cycles import LATE_COMMIT_GRACE, unchecked_cycles
from pricing_platform.quality.engine import validate
from pricing_platform.resources import build_resources
from pricing_platform.sensors.alerts import quality_sensor
from pricing_platform.sensors.quality import recommendation_checks_sensor
from tests.support import factories as f

DEAD_LETTER_LIMIT = Settings.model_fields["quality_dead_letter_max_per_hour"].default

pytestmark = pytest.mark.integration

CLICK_TOPIC = TOPICS[Stream.CLICKSTREAM].name
INVENTORY_TOPIC = TOPICS[Stream.INVENTORY].name
COMPETITOR_TOPIC = TOPICS[Stream.COMPETITOR].name
SEED_CLICK_DEAD_LETTERS = 2  # in the last hour (plus one older, outside the window)


# --- clean, realistic data through the real write paths ------------------------------------------------


def _device(event: ClickstreamEvent, device: str) -> ClickstreamEvent:
    return msgspec.structs.replace(event, device_type=device)  # type: ignore[arg-type]


def seed_clean(settings: Settings) -> None:
    """A few minutes of a working shop: sessions on three devices, stock movements (one rejected by the
    negative-stock guard), competitor prices arriving out of order, fresh ingest commits on all three
    streams, a couple of dead letters, then one pricing cycle."""
    at = f.minutes_ago
    clicks = [f.click(None, "page_view", at=at(30))]
    for n, product in enumerate(("P001", "P002", "P003", "P013", "P025")):
        device = ("mobile", "desktop", "tablet")[n % 3]
        clicks += [
            _device(f.click(product, "product_view", at=at(20 - n)), device),
            _device(f.click(product, "add_to_cart", at=at(19 - n)), device),
        ]
    clicks += [_device(f.click("P013", "remove_from_cart", at=at(12)), "desktop")]
    clicks += [f.click("P002", "purchase", at=at(m)) for m in range(1, 7)]  # 6 purchases: a raise
    movements = [
        f.movement("P002", "WH-LAGOS", "sale", -6, at=at(1)),
        f.movement("P001", "WH-ABUJA", "stock_received", 120, at=at(25)),
        f.movement("P001", "WH-ABUJA", "stock_damaged", -2, at=at(24)),
        f.movement("P013", "WH-PH", "stock_returned", 1, at=at(15)),
        f.movement("P025", "WH-LAGOS", "manual_adjustment", -3, at=at(10)),
        f.movement("P003", "WH-PH", "sale", -600, at=at(5)),  # more than the 500 in stock: rejected
    ]
    prices = []
    for product, theirs_factor in (("P001", 0.8), ("P002", 1.2), ("P003", 1.0), ("P013", 0.95)):
        base = PRODUCTS_BY_ID[product].base_price
        for competitor, step in (("TechMart", 0), ("GadgetZone", 1), ("ElectroHub", 2)):
            newer = (base * Decimal(theirs_factor) + step).quantize(Decimal("0.01"))
            prices.append(f.price(product, competitor, str(newer + 5), at=at(40)))
            prices.append(f.price(product, competitor, str(newer), at=at(5)))
    prices.append(f.price("P001", "TechMart", "700.00", at=at(50)))  # late: must not move latest
    with psycopg.connect(settings.database_conninfo) as conn:
        with conn.transaction(), conn.cursor() as cur:
            assert ClickstreamSink().write(cur, clicks).inserted == len(clicks)
            assert InventorySink().write(cur, movements).rejected == 1
            CompetitorSink().write(cur, prices)
            for stream, count in (
                (Stream.CLICKSTREAM, len(clicks)),
                (Stream.INVENTORY, len(movements)),
                (Stream.COMPETITOR, len(prices)),
            ):
                group = consumer_group(stream, settings.kafka_group_prefix)
                advance(cur, group, TOPICS[stream].name, {0: (None, count), 1: (None, 3)})
            letters = [
                DeadLetter(0, 100 + n, b"P001", b'{"event_id": 42', "malformed", "not JSON", f.now())
                for n in range(SEED_CLICK_DEAD_LETTERS)
            ]
            write_dead_letters(cur, consumer_group(Stream.CLICKSTREAM, settings.kafka_group_prefix),
                               CLICK_TOPIC, letters)  # fmt: skip
            cur.execute(
                "INSERT INTO dead_letters (consumer_group, topic, partition, kafka_offset, error_kind, "
                "reason, received_at) "
                "VALUES ('old', %s, 0, 1, 'contract', 'an old one', now() - interval '2 hours')",
                (CLICK_TOPIC,),
            )
        summary = run_cycle(conn, PricingRules.from_settings(settings))
        assert summary.products_priced == 4


# --- crafted bad rows ------------------------------------------------------------------------------------


def execute(conn: psycopg.Connection, query: str, params: tuple | dict = ()) -> None:
    conn.execute(query, params)  # type: ignore[arg-type]


def apply_movement(
    conn: psycopg.Connection,
    product_id: str,
    warehouse_id: str,
    event_type: str,
    quantity: int,
    at: datetime | None = None,
) -> str:
    """A movement applied around ingest (as a manual load would): logged as applied and added to the slot,
    which is created if missing. Returns its event id."""
    event_id = uuid.uuid4()
    slot = {"p": product_id, "w": warehouse_id, "q": quantity}
    moved = conn.execute(
        "UPDATE inventory_state SET current_stock = current_stock + %(q)s "
        "WHERE product_id = %(p)s AND warehouse_id = %(w)s",
        slot,
    )
    if moved.rowcount == 0:
        execute(conn, "INSERT INTO inventory_state (product_id, warehouse_id, current_stock) "
                      "VALUES (%(p)s, %(w)s, %(q)s)", slot)  # fmt: skip
    execute(
        conn,
        "INSERT INTO inventory_events (event_id, product_id, warehouse_id, event_type, quantity_change, "
        "event_time, status, stock_after) SELECT %s, product_id, warehouse_id, %s, %s, %s, 'applied', "
        "current_stock FROM inventory_state WHERE product_id = %s AND warehouse_id = %s",
        (event_id, event_type, quantity, at or f.now(), product_id, warehouse_id),
    )
    return str(event_id)


def insert_click(
    conn: psycopg.Connection,
    *,
    event_type: str = "product_view",
    product_id: str = "P001",
    device: str = "mobile",
    at: datetime | None = None,
) -> str:
    event_id = uuid.uuid4()
    execute(
        conn,
        "INSERT INTO clickstream_events (event_id, user_id, session_id, event_type, product_id, device_type, "
        "event_time) VALUES (%s, 'U00042', %s, %s, %s, %s, %s)",
        (event_id, uuid.uuid4(), event_type, product_id, device, at or f.now()),
    )
    return str(event_id)


def insert_observation(
    conn: psycopg.Connection,
    product_id: str,
    competitor: str,
    price: str,
    at: datetime,
    *,
    also_latest: bool = False,
) -> str:
    """One competitor observation in the history (and as the latest one, as ingest would for the newest)."""
    event = f.price(product_id, competitor, price, at=at)
    values = msgspec.structs.astuple(event)
    execute(
        conn,
        "INSERT INTO competitor_prices (event_id, product_id, competitor_name, competitor_price, our_price, "
        "price_difference, price_difference_pct, event_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        values,
    )
    if also_latest:
        execute(
            conn,
            "INSERT INTO competitor_prices_latest (event_id, product_id, competitor_name, competitor_price, "
            "our_price, price_difference, price_difference_pct, event_time) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (product_id, competitor_name) DO UPDATE "
            "SET event_id = EXCLUDED.event_id, competitor_price = EXCLUDED.competitor_price, "
            "event_time = EXCLUDED.event_time",
            values,
        )
    return str(event.event_id)


def insert_recommendation(
    conn: psycopg.Connection,
    *,
    product_id: str = "P001",
    recommendation: str = "hold",
    confidence: str = "0.5",
) -> str:
    """A cycle of one row, appended after the real one: the newest cycle."""
    execute(
        conn,
        "INSERT INTO pricing_recommendations (cycle_id, product_id, current_price, competitors_seen, "
        "demand_velocity, recommendation, recommended_price, confidence, reason) "
        "VALUES (%s, %s, 899.99, 3, 0, %s, 899.99, %s, 'crafted')",
        (uuid.uuid4(), product_id, recommendation, Decimal(confidence)),
    )
    return product_id


def stale_stream(topic: str) -> Callable[[psycopg.Connection], None]:
    def apply(conn: psycopg.Connection) -> None:
        execute(
            conn,
            "UPDATE ingest_offsets SET updated_at = now() - interval '10 minutes' WHERE topic = %s",
            (topic,),
        )

    return apply


def flood_dead_letters(topic: str, already: int = 0) -> Callable[[psycopg.Connection], None]:
    def apply(conn: psycopg.Connection) -> None:
        execute(
            conn,
            "INSERT INTO dead_letters (consumer_group, topic, partition, kafka_offset, payload, error_kind, "
            "reason) SELECT 'crafted', %s, 2, n, convert_to('{\"product_id\": 7}', 'UTF8'), 'contract', "
            "'crafted poison ' || n FROM generate_series(1, %s) AS n",
            (topic, DEAD_LETTER_LIMIT + 1 - already),
        )

    return apply


@dataclass(frozen=True)
class Case:
    check: str
    apply: Callable[[psycopg.Connection], object]  # makes the data bad; may return the bad row's id
    mention: str | None = None  # text the sample must show (default: what `apply` returned)
    # What the check counts (`CheckOutcome.count`): unexpected rows, or the rows a row-count Expectation
    # saw; None for an aggregate that counts nothing (a column's max), checked by `observed` instead.
    count: int | None = 1
    observed: Callable[[object], bool] | None = None  # GX's observed value must satisfy this
    also_fails: frozenset[str] = frozenset()  # checks the same bad row legitimately breaks too


def stale_commit(observed: object) -> bool:
    """The stale_stream cases: the newest commit is the one moved 10 minutes back."""
    return isinstance(observed, datetime) and timedelta(minutes=9) < datetime.now(UTC) - observed < timedelta(
        minutes=11
    )


def _negative_stock(conn: psycopg.Connection) -> str:
    execute(conn, "ALTER TABLE inventory_state DROP CONSTRAINT stock_not_negative")
    apply_movement(conn, "P010", "WH-PH", "sale", -505)  # 500 in stock: -5, consistent with its log
    return "P010"


def _missing_slot(conn: psycopg.Connection) -> str:
    execute(conn, "DELETE FROM inventory_events WHERE product_id = 'P030' AND warehouse_id = 'WH-PH'")
    execute(conn, "DELETE FROM inventory_state WHERE product_id = 'P030' AND warehouse_id = 'WH-PH'")
    return "missing"


def _stock_loaded_without_movement(conn: psycopg.Connection) -> str:
    execute(conn, "UPDATE inventory_state SET current_stock = 480 "
                  "WHERE product_id = 'P021' AND warehouse_id = 'WH-ABUJA'")  # fmt: skip
    return "P021"


def _duplicate_latest(conn: psycopg.Connection) -> str:
    execute(conn, "ALTER TABLE competitor_prices_latest DROP CONSTRAINT competitor_prices_latest_pkey")
    execute(
        conn,
        "INSERT INTO competitor_prices_latest SELECT product_id, competitor_name, event_id, "
        "competitor_price + 1, our_price, price_difference, price_difference_pct, event_time, updated_at "
        "FROM competitor_prices_latest WHERE product_id = 'P003' AND competitor_name = 'ElectroHub'",
    )
    return "ElectroHub"


def _latest_moved_back(conn: psycopg.Connection) -> str:
    # The latest row replaced by an older observation: what a non-monotonic upsert would do.
    execute(
        conn,
        "UPDATE competitor_prices_latest l SET event_id = h.event_id, competitor_price = h.competitor_price, "
        "event_time = h.event_time FROM competitor_prices h "
        "WHERE l.product_id = 'P002' AND l.competitor_name = 'GadgetZone' "
        "AND h.product_id = l.product_id AND h.competitor_name = l.competitor_name "
        "AND h.event_time < l.event_time",
    )
    return "behind the newest observation"


def _our_price_zero(conn: psycopg.Connection) -> str:
    # A producer that lost our price: the observation itself, and its difference, look plausible.
    event_id = insert_observation(conn, "P003", "TechMart", "690.00", f.minutes_ago(90))
    execute(conn, "UPDATE competitor_prices SET our_price = 0 WHERE event_id = %s", (event_id,))
    return event_id


DEAD_LETTER_FLOOD = DEAD_LETTER_LIMIT + 1


def ahead(minutes: float = 60) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


CASES = [
    Case("inventory_stock_not_negative", _negative_stock),
    Case("inventory_slot_count_matches_catalog", _missing_slot),
    Case(
        "inventory_stock_within_max",
        lambda c: apply_movement(c, "P020", "WH-LAGOS", "stock_received", 200_000),
        mention="200500",
    ),
    Case("inventory_stock_equals_applied_movements", _stock_loaded_without_movement),
    Case(
        "inventory_events_valid_event_types",
        lambda c: apply_movement(c, "P022", "WH-PH", "stock_transfer", -5),
    ),
    Case(
        "inventory_events_valid_warehouse_ids",
        lambda c: apply_movement(c, "P023", "WH-KANO", "stock_received", 10),
        # The movement created its slot, in a warehouse the catalog does not have.
        also_fails=frozenset({"inventory_slot_count_matches_catalog"}),
    ),
    Case(
        "inventory_events_no_future_timestamps",
        lambda c: apply_movement(c, "P024", "WH-LAGOS", "sale", -1, at=ahead()),
    ),
    Case(
        "inventory_stream_fresh",
        stale_stream(INVENTORY_TOPIC),
        mention="observed value: ",
        count=None,
        observed=stale_commit,
    ),
    Case(
        "inventory_dead_letters_within_limit",
        flood_dead_letters(INVENTORY_TOPIC),
        mention="observed value: 101",
        count=DEAD_LETTER_FLOOD,
    ),
    Case(
        "clickstream_not_empty",
        lambda c: execute(c, "DELETE FROM clickstream_events"),
        mention="observed value: 0",
        count=0,
    ),
    Case("clickstream_valid_event_types", lambda c: insert_click(c, event_type="hover")),
    Case("clickstream_products_exist", lambda c: insert_click(c, product_id="P999"), mention="P999"),
    Case("clickstream_valid_device_types", lambda c: insert_click(c, device="smart_tv"), mention="smart_tv"),
    Case("clickstream_no_future_timestamps", lambda c: insert_click(c, at=ahead())),
    Case(
        "clickstream_stream_fresh",
        stale_stream(CLICK_TOPIC),
        mention="observed value: ",
        count=None,
        observed=stale_commit,
    ),
    Case(
        "clickstream_dead_letters_within_limit",
        flood_dead_letters(CLICK_TOPIC, already=SEED_CLICK_DEAD_LETTERS),
        mention="observed value: 101",
        count=DEAD_LETTER_FLOOD,
    ),
    Case(
        "competitor_prices_positive",
        lambda c: insert_observation(c, "P001", "TechMart", "0.00", f.minutes_ago(90)),
        also_fails=frozenset({"competitor_price_difference_within_bound"}),  # a zero price is 100 % below
    ),
    Case("competitor_our_price_positive", _our_price_zero),
    Case(
        "competitor_price_difference_within_bound",
        lambda c: insert_observation(c, "P001", "GadgetZone", "99.99", f.minutes_ago(90)),
        mention="-88.89",
    ),
    Case(
        "competitor_names_known",
        lambda c: insert_observation(c, "P001", "ShadyDeals", "880.00", f.minutes_ago(3), also_latest=True),
        mention="ShadyDeals",
    ),
    Case(
        "competitor_prices_no_future_timestamps",
        lambda c: insert_observation(c, "P002", "GadgetZone", "1300.00", ahead(), also_latest=True),
    ),
    Case(
        "competitor_stream_fresh",
        stale_stream(COMPETITOR_TOPIC),
        mention="observed value: ",
        count=None,
        observed=stale_commit,
    ),
    Case(
        "competitor_dead_letters_within_limit",
        flood_dead_letters(COMPETITOR_TOPIC),
        mention="observed value: 101",
        count=DEAD_LETTER_FLOOD,
    ),
    # Both rows of the duplicated pair break the compound uniqueness.
    Case("competitor_latest_unique", _duplicate_latest, mention="ElectroHub", count=2),
    Case("competitor_latest_matches_newest_observation", _latest_moved_back, mention="behind the newest"),
    Case(
        "recommendations_valid_action",
        lambda c: insert_recommendation(c, recommendation="panic"),
        mention="panic",
    ),
    Case(
        "recommendations_confidence_in_range",
        lambda c: insert_recommendation(c, confidence="1.5"),
        mention="1.500",
    ),
    Case(
        "recommendations_known_products",
        lambda c: insert_recommendation(c, product_id="P999"),
        mention="P999",
    ),
]
EXTRA_CASES = [
    pytest.param(
        Case(
            "inventory_stream_fresh",
            lambda c: execute(c, "DELETE FROM ingest_offsets WHERE topic = %s", (INVENTORY_TOPIC,)),
            mention="no rows to measure",
            count=None,
            observed=lambda observed: observed is None,
        ),
        id="inventory_stream_fresh-never_committed",
    ),
]


def outcomes_by_name(settings: Settings) -> dict[str, CheckOutcome]:
    """Every check, validated by great-expectations against the test's database."""
    return validate(settings.database_conninfo, Thresholds.from_settings(settings)).by_name()


def test_every_check_has_a_failure_case() -> None:
    assert [c.check for c in CASES] == [c.name for c in CHECKS], "one case per check, in registry order"


def test_clean_data_passes_every_check(settings: Settings) -> None:
    seed_clean(settings)
    outcomes = outcomes_by_name(settings)
    assert list(outcomes) == [c.name for c in CHECKS]
    for name in CHECKS_BY_NAME:
        outcome = outcomes[name]
        assert outcome.error is None, f"{name}: {outcome.error}"
        assert outcome.passed, f"{name}: {outcome.summary}\n{outcome.sample_markdown()}"
    # Tolerated volume is still reported.
    assert outcomes["clickstream_dead_letters_within_limit"].count == SEED_CLICK_DEAD_LETTERS
    assert outcomes["inventory_stock_not_negative"].sample_markdown() == "no unexpected rows"
    # Aggregates were computed in the database: GX reports what it counted, not the rows.
    assert outcomes["clickstream_valid_device_types"].element_count == 18  # seed_clean's clicks
    assert outcomes["clickstream_valid_device_types"].sample == ()


@pytest.mark.parametrize("case", [*(pytest.param(c, id=c.check) for c in CASES), *EXTRA_CASES])
def test_one_bad_row_fails_its_check_and_only_related_ones(settings: Settings, case: Case) -> None:
    seed_clean(settings)
    with psycopg.connect(settings.database_conninfo, autocommit=True) as conn:
        returned = case.apply(conn)
    mention = case.mention or str(returned)
    outcomes = outcomes_by_name(settings)
    failed = {name for name, o in outcomes.items() if not o.passed}
    assert failed == {case.check} | case.also_fails, {n: outcomes[n].summary for n in failed}
    outcome = outcomes[case.check]
    assert outcome.error is None
    assert outcome.count == case.count, outcome.summary
    assert mention in outcome.sample_markdown(), outcome.sample_markdown()
    if case.observed is not None:
        assert case.observed(outcome.observed_value), outcome.observed_value
    if outcome.unexpected_count is not None:
        assert 1 <= len(outcome.sample) <= 10


def test_a_check_that_cannot_run_fails_and_the_others_still_run(settings: Settings) -> None:
    seed_clean(settings)
    with psycopg.connect(settings.database_conninfo, autocommit=True) as conn:
        conn.execute("ALTER TABLE inventory_state RENAME COLUMN current_stock TO stock")  # schema drift
    outcomes = outcomes_by_name(settings)
    broken = {n for n, o in outcomes.items() if o.error is not None}
    assert broken == {
        "inventory_stock_not_negative",
        "inventory_stock_within_max",
        "inventory_stock_equals_applied_movements",
    }
    assert "current_stock" in outcomes["inventory_stock_not_negative"].summary
    assert "UndefinedColumn" in outcomes["inventory_stock_equals_applied_movements"].summary
    assert all(outcomes[n].passed for n in set(outcomes) - broken)


# --- through Dagster --------------------------------------------------------------------------------------


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events() if e.asset_key}


@dg.asset(deps=[tables.PRICING_RECOMMENDATIONS])
def pricing_report() -> None:
    """Stands for anything computed from the recommendations (a dbt mart, an export)."""


def checked_cycles(settings: Settings) -> dict[str, tuple[bool, list[str]]]:
    with psycopg.connect(settings.database_conninfo) as conn:
        rows = conn.execute("SELECT cycle_id, passed, failed_checks FROM pricing_cycle_checks").fetchall()
    return {str(cycle_id): (passed, failed) for cycle_id, passed, failed in rows}


def marts_read_cycle(settings: Settings) -> set[str]:
    """The cycles the marts read recommendations from (the view dbt's pricing_analysis selects)."""
    with psycopg.connect(settings.database_conninfo) as conn:
        rows = conn.execute("SELECT DISTINCT cycle_id FROM pricing_recommendations_checked").fetchall()
    return {str(row[0]) for row in rows}


def overconfident_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine regression: confidences above 1."""
    decide = cycle.decide

    def overconfident(*args: object, **kwargs: object) -> dict[str, np.ndarray]:
        decided = decide(*args, **kwargs)  # type: ignore[arg-type]
        decided["confidence"] = np.full(len(decided["confidence"]), 1.5)
        return decided

    monkeypatch.setattr(cycle, "decide", overconfident)


def test_blocking_pricing_checks_gate_downstream_assets(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Materialised together (from the UI), the asset's ERROR checks block what is built from it in the
    same run, and record the cycle's verdict for the marts."""
    seed_clean(settings)
    # The resources carry this test's settings (its consumer-group prefix among them).
    resources = build_resources(settings)
    assets = [pricing_recommendations, pricing_recommendation_checks, pricing_report]

    with dg.DagsterInstance.ephemeral() as instance:
        good = dg.materialize(assets, resources=resources, instance=instance)
        assert good.success
        checks = evaluations(good)
        assert set(checks) == {c.name for c in checks_for(tables.PRICING_RECOMMENDATIONS)}
        assert all(e.passed for e in checks.values())
        assert materialized(good) == {"pricing_recommendations", "pricing_report"}

        overconfident_engine(monkeypatch)
        bad = dg.materialize(assets, resources=resources, instance=instance, raise_on_error=False)
        assert not bad.success, "a failed blocking check fails its step"
        checks = evaluations(bad)
        failed = checks["recommendations_confidence_in_range"]
        assert not failed.passed and failed.blocking and failed.severity == dg.AssetCheckSeverity.ERROR
        assert failed.metadata["unexpected_count"].value == 4
        assert failed.metadata["element_count"].value == 4  # the products seed_clean gives competitor data
        assert "1.500" in str(failed.metadata["sample"].value)
        assert failed.metadata["expectation"].value == "ExpectColumnValuesToBeBetween"
        assert failed.metadata["expectation_kwargs"].value["max_value"] == 1
        assert checks["recommendations_valid_action"].passed
        assert materialized(bad) == {"pricing_recommendations"}, (
            "downstream of a failed blocking check: skipped"
        )
        assert "pricing_report" not in {e.step_key for e in bad.all_events}, "its step never started"

    bad_cycle = str(failed.metadata["cycle_id"].value)
    verdicts = checked_cycles(settings)
    assert verdicts[bad_cycle] == (False, ["recommendations_confidence_in_range"])
    assert bad_cycle not in marts_read_cycle(settings), "the marts never read the failed cycle"
    assert len(marts_read_cycle(settings)) == 1, "they keep the last good one"


def test_the_sensor_checks_each_new_cycle_once_and_its_evaluations_attach_to_the_asset(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recommendation checks run in the code server, not in the pricing run: the sensor finds the
    cycles after the watermark, validates them, records their verdicts and reports asset check
    evaluations. The pricing asset lives in another code location here (its own Definitions, as the lean
    pricing location would have it): the evaluations still attach to its checks."""
    seed_clean(settings)  # one cycle, never checked
    resources = build_resources(settings)
    pricing_location = dg.Definitions(
        assets=[pricing_recommendations],
        asset_checks=[pricing_recommendation_checks],
        jobs=[pricing_job],
        resources=resources,
    )
    checks_location = dg.Definitions(sensors=[recommendation_checks_sensor], resources=resources)
    keys = {dg.AssetCheckKey(dg.AssetKey(tables.PRICING_RECOMMENDATIONS), c.name) for c in
            checks_for(tables.PRICING_RECOMMENDATIONS)}  # fmt: skip

    def evaluate(instance: dg.DagsterInstance) -> dg.SensorResult | dg.SkipReason:
        with dg.build_sensor_context(
            instance=instance, repository_def=checks_location.get_repository_def(), resources=resources
        ) as context:
            result = recommendation_checks_sensor(context)
        if isinstance(result, dg.SensorResult):
            for event in result.asset_events:  # what the daemon does with a sensor's asset events
                instance.report_runless_asset_event(event)
        return result

    # Inside the test's instance: building a repository reads the current instance, which earlier tests'
    # temporary instances must not leak into.
    with dg.instance_for_test() as instance:
        assert keys <= set(pricing_location.resolve_asset_graph().asset_check_keys)
        first = evaluate(instance)
        assert isinstance(first, dg.SensorResult) and len(first.asset_events) == len(keys)
        assert isinstance(evaluate(instance), dg.SkipReason), "a cycle is checked once"

        # The every-minute pricing run: the asset alone, in a run that never imports great-expectations.
        priced = pricing_location.resolve_job_def("pricing_engine_job").execute_in_process(instance=instance)
        assert priced.success and evaluations(priced) == {}
        cycle_id = priced.get_asset_materialization_events()[0].materialization.metadata["cycle_id"].value
        second = evaluate(instance)
        assert isinstance(second, dg.SensorResult)
        for event in second.asset_events:
            assert isinstance(event, dg.AssetCheckEvaluation) and event.passed
            assert event.metadata["cycle_id"].value == cycle_id
            assert event.target_materialization_data is not None
            assert event.target_materialization_data.run_id == priced.run_id, "names the cycle's run"
        for key in keys:
            record = instance.get_latest_asset_check_evaluation_record(key)
            assert record is not None and record.evaluation is not None, key
            assert record.evaluation.asset_key == key.asset_key and record.evaluation.passed
        assert checked_cycles(settings)[str(cycle_id)] == (True, [])
        # A passed cycle's moves are then decided for automatic application (none in a band by default).
        with psycopg.connect(settings.database_conninfo) as conn:
            moves, decided = conn.execute(
                "SELECT count(*) FILTER (WHERE recommendation <> 'hold'), "
                "(SELECT count(*) FILTER (WHERE outcome = 'no_band') FROM auto_apply_outcomes "
                "WHERE cycle_id = %s) FROM pricing_recommendations WHERE cycle_id = %s",
                (cycle_id, cycle_id),
            ).fetchone() or (0, 0)
        assert moves > 0 and decided == moves
        assert marts_read_cycle(settings) == {str(cycle_id)}, "every product's newest checked recommendation"

        # A bad cycle: reported failed (and alerted), withheld from the marts, which keep the good one.
        overconfident_engine(monkeypatch)
        bad = pricing_location.resolve_job_def("pricing_engine_job").execute_in_process(instance=instance)
        bad_cycle = bad.get_asset_materialization_events()[0].materialization.metadata["cycle_id"].value
        third = evaluate(instance)
        assert isinstance(third, dg.SensorResult)
        failed = {e.check_name for e in third.asset_events if not e.passed}  # type: ignore[union-attr]
        assert failed == {"recommendations_confidence_in_range"}
        assert checked_cycles(settings)[str(bad_cycle)] == (False, ["recommendations_confidence_in_range"])
        assert str(bad_cycle) not in marts_read_cycle(settings)
        assert str(cycle_id) in marts_read_cycle(settings)
        with psycopg.connect(settings.database_conninfo) as conn:
            withheld = conn.execute(
                "SELECT count(*) FROM auto_apply_outcomes WHERE cycle_id = %s", (bad_cycle,)
            ).fetchone()
        assert withheld == (0,), "a failed cycle is never applied automatically"
        record = instance.get_latest_asset_check_evaluation_record(
            dg.AssetCheckKey(
                dg.AssetKey(tables.PRICING_RECOMMENDATIONS), "recommendations_confidence_in_range"
            )
        )
        assert record is not None and record.evaluation is not None and not record.evaluation.passed
        with dg.build_sensor_context(instance=instance, repository_def=pricing_location.get_repository_def(),
                                     resources=resources) as context:  # fmt: skip
            quality_sensor(context)
    with psycopg.connect(settings.database_conninfo) as conn:
        alerts = conn.execute("SELECT condition_key FROM alerts WHERE cleared_at IS NULL").fetchall()
        left_open = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'pricing-dagster-quality'"
        ).fetchone()
    assert alerts == [("asset_check:pricing_recommendations:recommendations_confidence_in_range",)]
    assert left_open == (0,), "each evaluation closes its connections (the code server lives on)"


def test_a_cycle_that_committed_after_a_newer_one_was_checked_is_still_checked(settings: Settings) -> None:
    """An undercut's cycle stamped before a scheduled one but committed after that one's check: the
    checked-cycle watermark must not skip it (within the grace), or its move is never applied."""
    seed_clean(settings)  # one cycle, never checked
    with psycopg.connect(settings.database_conninfo, autocommit=True) as conn:
        late = conn.execute("SELECT DISTINCT cycle_id FROM pricing_recommendations").fetchall()
        assert len(late) == 1
        conn.execute(
            "INSERT INTO pricing_cycle_checks (cycle_id, cycle_created_at, passed, failed_checks) "
            "SELECT %s, max(created_at) + interval '5 seconds', true, '{}' FROM pricing_recommendations",
            (uuid.uuid4(),),
        )  # a newer cycle, checked first
        assert [c.cycle_id for c in unchecked_cycles(conn, 5)] == [late[0][0]]

        conn.execute("UPDATE pricing_recommendations SET created_at = created_at - %s", (LATE_COMMIT_GRACE,))
        assert unchecked_cycles(conn, 5) == [], "older than the grace: an outage's backlog stays unchecked"


def registered_definitions(settings: Settings) -> dg.Definitions:
    """What pricing_platform/definitions.py registers, plus the quality objects."""
    return dg.Definitions(
        assets=[*raw_table_specs(), pricing_recommendations],
        asset_checks=quality_checks,
        jobs=[pricing_job, quality_checks_job],
        schedules=[pricing_schedule, quality_checks_schedule],
        sensors=[quality_sensor],
        resources=build_resources(settings),
    )


def test_scheduled_jobs_run_the_checks_in_process_and_failures_raise_alerts(settings: Settings) -> None:
    seed_clean(settings)
    defs = registered_definitions(settings)
    raw_names = {c.name for a in RAW_CHECKED_ASSETS for c in checks_for(a)}

    with dg.DagsterInstance.ephemeral() as instance:
        # The pricing job materialises the asset without its checks (the sensor evaluates those).
        priced = defs.resolve_job_def("pricing_engine_job").execute_in_process(instance=instance)
        assert priced.success and evaluations(priced) == {}

        job = defs.resolve_job_def("quality_checks_job")
        clean = job.execute_in_process(instance=instance)
        assert clean.success and set(evaluations(clean)) == raw_names, "exactly the raw tables' checks"
        assert all(e.passed for e in evaluations(clean).values())
        assert clean.get_asset_materialization_events() == []
        docs = evaluations(clean)["clickstream_valid_event_types"].metadata["data_docs"].value
        page = Path(docs.removeprefix("file://"))
        assert page.is_file() and page.is_relative_to(settings.quality_docs_dir), docs
        assert "clickstream_events" in page.read_text()
        assert (settings.quality_docs_dir / "index.html").is_file()

        with psycopg.connect(settings.database_conninfo, autocommit=True) as conn:
            stale_stream(CLICK_TOPIC)(conn)
        stale = job.execute_in_process(instance=instance)
        assert stale.success, "a failing check is a result, not a run failure"
        failed = {n for n, e in evaluations(stale).items() if not e.passed}
        assert failed == {"clickstream_stream_fresh"}
        evaluation = evaluations(stale)["clickstream_stream_fresh"]
        assert evaluation.metadata["expectation"].value == "ExpectColumnMaxToBeBetween"
        assert "raw.clickstream" in str(evaluation.metadata["threshold"].value)
        assert str(evaluation.metadata["observed_value"].value).startswith(str(datetime.now(UTC).year))

        with dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(),
                                     resources=build_resources(settings)) as context:  # fmt: skip
            summary = quality_sensor(context)
        assert isinstance(summary, dg.SkipReason)
        with psycopg.connect(settings.database_conninfo) as conn:
            alerts = conn.execute(
                "SELECT condition_key, severity FROM alerts WHERE cleared_at IS NULL"
            ).fetchall()
        assert alerts == [("asset_check:clickstream_events:clickstream_stream_fresh", "critical")]

    tick = quality_checks_schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 26, 12, 5, tzinfo=UTC))
    )
    assert tick.run_requests is not None and len(tick.run_requests) == 1
    assert quality_checks_schedule.job_name == "quality_checks_job"
    assert quality_checks_schedule.default_status == dg.DefaultScheduleStatus.RUNNING


# --- the CLI command --------------------------------------------------------------------------------------


def test_quality_command_prints_the_table_and_exits_0_or_1(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    seed_clean(settings)
    assert quality_command(False, settings=settings) == 0
    out, err = capsys.readouterr()
    assert "Calculating Metrics" not in out + err, "no GX progress bars"
    for check in CHECKS:
        assert check.name in out
    assert f"{len(CHECKS)} of {len(CHECKS)} checks passed" in out
    assert "SELECT" not in out

    with psycopg.connect(settings.database_conninfo, autocommit=True) as conn:
        insert_click(conn, device="smart_tv")
    assert quality_command(True, settings=settings) == 1
    out = capsys.readouterr().out
    row = next(
        line
        for line in out.splitlines()
        if line.startswith("│") and " clickstream_valid_device_types " in line
    )
    assert re.search(r"FAIL.*\b1\b", row), row
    assert "smart_tv" in out, "failures show their sample"
    assert "ExpectColumnValuesToBeInSet" in out and '"column": "device_type"' in out, (
        "--verbose shows each Expectation with its arguments"
    )
    assert f"{len(CHECKS) - 1} of {len(CHECKS)} checks passed" in out
    report = settings.quality_docs_dir / "index.html"
    assert f"Data Docs report: {report.resolve().as_uri()}" in out and report.is_file()

    unreachable = settings.model_copy(update={"database_url": "postgresql://pricing@127.0.0.1:1/none"})
    assert quality_command(False, settings=unreachable, docs=False) == 1
    assert "cannot reach the database" in capsys.readouterr().out
