"""Price experiments on a real PostgreSQL: the schedule sets the arms' prices through the audited path and
the outbox, the experiment ends back at the control price, its arms win over approvals and automatic
application while it runs, its switches do not count against the daily cap, bad experiments are refused
with the reason, and the results and the stopping rule read the shop's own events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import dagster as dg
import psycopg
import pytest

from pricing_platform.core import roles
from pricing_platform.core.settings import default_settings
from pricing_platform.dashboard import approvals, experiments
from pricing_platform.dashboard.policies import set_category_policy, set_price_bounds
from pricing_platform.pricing import experiment_store
from pricing_platform.pricing.auto_apply import apply_cycle
from pricing_platform.pricing.experiment_store import Request
from pricing_platform.pricing.experiments import ExperimentParams, ExperimentRefused
from pricing_platform.pricing.rules import PricingRules
from pricing_platform.resources import build_resources
from pricing_platform.sensors.experiments import price_experiments_sensor
from tests.integration.test_auto_apply import _market, checked_cycle
from tests.support.factories import click_row, insert_click_rows

pytestmark = pytest.mark.integration

RULES = PricingRules.defaults()
PARAMS = ExperimentParams.from_settings(default_settings()).model_copy(update={"bootstrap_samples": 300})


def _roles(database: str) -> tuple[str, str]:
    return (
        roles.role_conninfo(database, roles.DASHBOARD_READER),
        roles.role_conninfo(database, roles.PRICE_APPROVER),
    )


def _start(
    database: str, subject: str = "P001", scope: str = "product", pct: float = 5.0, days: int = 2
) -> int:
    reader, approver = _roles(database)
    request = Request(f"{subject} +{pct}", scope, subject, pct, days, 60)  # type: ignore[arg-type]
    return experiments.start(reader, approver, RULES, PARAMS, request, "Ada")


def _price(conn: psycopg.Connection, pid: str) -> Decimal:
    row = conn.execute("SELECT current_price FROM products WHERE product_id = %s", (pid,)).fetchone()
    assert row is not None
    return Decimal(row[0])


def _blocks(conn: psycopg.Connection, experiment_id: int) -> list[tuple[datetime, datetime, str]]:
    return conn.execute(
        "SELECT block_start, block_end, arm FROM price_experiment_blocks WHERE experiment_id = %s "
        "ORDER BY block_start",
        (experiment_id,),
    ).fetchall()


def test_the_schedule_sets_each_arm_through_the_outbox_and_ends_at_the_control_price(database: str) -> None:
    experiment_id = _start(database)
    with psycopg.connect(database, autocommit=True) as conn:
        control, test = conn.execute(
            "SELECT control_price, test_price FROM price_experiment_arms WHERE experiment_id = %s",
            (experiment_id,),
        ).fetchone()  # type: ignore[misc]
        assert (control, test) == (Decimal("899.99"), Decimal("943.99"))
        blocks = _blocks(conn, experiment_id)
        assert len(blocks) == 48 and blocks[0][0] > datetime.now(UTC) - timedelta(seconds=1)
        # Before its first block nothing changes.
        assert experiment_store.run_due(conn, blocks[0][0] - timedelta(seconds=1)) == {}
        seen = []
        for start, _, arm in blocks[:6]:
            experiment_store.run_due(conn, start + timedelta(seconds=5))
            assert experiment_store.run_due(conn, start + timedelta(seconds=6)) == {}  # idempotent
            assert _price(conn, "P001") == (control if arm == "A" else test)
            seen.append(arm)
        switches = sum(1 for a, b in zip(["A", *seen], seen, strict=False) if a != b)
        changes = conn.execute(
            "SELECT c.approved_by, c.experiment_id, o.payload->>'new_price' FROM price_changes c "
            "JOIN price_change_outbox o USING (change_id) WHERE c.product_id = 'P001' ORDER BY c.version"
        ).fetchall()
        assert len(changes) == switches and all(
            c[:2] == (f"experiment {experiment_id}", experiment_id) for c in changes
        )
        # At the planned end: back at the control price, finished, and nothing more happens.
        experiment_store.run_due(conn, blocks[-1][1])
        assert _price(conn, "P001") == control
        assert conn.execute(
            "SELECT status FROM price_experiments WHERE experiment_id = %s", (experiment_id,)
        ).fetchone() == ("finished",)
        assert experiment_store.run_due(conn, blocks[-1][1] + timedelta(hours=1)) == {}


def test_while_it_runs_its_arms_win_over_approvals_and_automatic_application(database: str) -> None:
    _, approver = _roles(database)
    set_category_policy(approver, "phones", {"lower_gap_pct": 2, "auto_apply_band_pct": 5}, "Ada")
    experiment_id = _start(database)
    with psycopg.connect(database, autocommit=True) as conn:
        _market(conn)
        cycle = checked_cycle(conn)
        (rec,) = conn.execute(
            "SELECT recommendation_id FROM pricing_recommendations WHERE cycle_id = %s "
            "AND product_id = 'P001' AND recommendation <> 'hold'",
            (cycle.cycle_id,),
        ).fetchone()  # type: ignore[misc]
        with pytest.raises(approvals.ApprovalRefused, match=rf"P001 is in price experiment {experiment_id}"):
            approvals.approve(approver, rec, "Bo")
        outcomes = {o.product_id: o for o in apply_cycle(conn, cycle.cycle_id, RULES)}
        assert outcomes["P001"].outcome == "in_experiment"
        assert _price(conn, "P001") == Decimal("899.99")
        queued = {r[0] for r in conn.execute("SELECT product_id FROM review_queue").fetchall()}
        assert "P001" not in queued and "P007" in queued
        # Stopped: the product is the engine's again.
        experiments.stop(approver, experiment_id, "Bo", "the launch moved")
        cycle = checked_cycle(conn)
        assert {o.product_id: o.outcome for o in apply_cycle(conn, cycle.cycle_id, RULES)}[
            "P001"
        ] == "applied"


def test_experiment_switches_do_not_count_against_the_daily_cap(database: str) -> None:
    _, approver = _roles(database)
    set_category_policy(
        approver, "phones", {"lower_gap_pct": 2, "auto_apply_band_pct": 5, "max_changes_per_day": 1}, "Ada"
    )
    experiment_id = _start(database)
    with psycopg.connect(database, autocommit=True) as conn:
        blocks = _blocks(conn, experiment_id)
        first_b = next(start for start, _, arm in blocks if arm == "B")
        experiment_store.run_due(conn, first_b)  # arm B: one change
        experiments.stop(approver, experiment_id, "Bo", "enough")  # back to control: a second
        assert conn.execute("SELECT count(*) FROM price_changes WHERE product_id = 'P001'").fetchone() == (2,)
        _market(conn)
        cycle = checked_cycle(conn)
        assert {o.product_id: o.outcome for o in apply_cycle(conn, cycle.cycle_id, RULES)}[
            "P001"
        ] == "applied"


def test_bad_experiments_are_refused_with_the_reason(database: str) -> None:
    _, approver = _roles(database)
    first = _start(database)
    # One experiment per product at a time, whether on the product or on its category.
    with pytest.raises(ExperimentRefused, match=rf"P001 is already in running experiment {first}"):
        _start(database)
    with pytest.raises(ExperimentRefused, match=rf"P001 is already in running experiment {first}"):
        _start(database, scope="category", subject="phones")
    # Arms outside the guardrails: the policy's (max step) and the product's bounds.
    with pytest.raises(ExperimentRefused, match="above the max step of 10 % in laptops"):
        _start(database, subject="P007", pct=15.0)
    set_price_bounds(approver, "P007", None, Decimal("2050.00"), "Ada")
    with pytest.raises(ExperimentRefused, match="outside its price bounds"):
        _start(database, subject="P007", pct=5.0)
    with pytest.raises(ExperimentRefused, match="even number of days"):
        _start(database, subject="P008", days=3)
    with pytest.raises(ExperimentRefused, match="no product 'P999' exists"):
        _start(database, subject="P999")
    # The database's own guards, for a caller that skips the planning checks.
    with psycopg.connect(database, autocommit=True) as conn:
        plan = experiment_store.plan(
            conn, RULES, PARAMS, Request("x", "product", "P008", 5.0), datetime.now(UTC)
        )
        cheap = plan.arms[0].__class__(plan.arms[0].product_id, plan.arms[0].control_price, Decimal("1.00"))
        with pytest.raises(psycopg.Error, match="not above its unit cost") as refused:
            experiment_store.create(conn, plan.__class__(**{**plan.__dict__, "arms": [cheap]}), "Ada")
        assert refused.value.sqlstate == "PA207"
        conn.execute("UPDATE products SET current_price = current_price + 1 WHERE product_id = 'P008'")
        with pytest.raises(psycopg.Error, match=r"not the .* this experiment was planned from"):
            experiment_store.create(conn, plan, "Ada")
        assert conn.execute("SELECT count(*) FROM price_experiments").fetchone() == (1,)


def _events(conn: psycopg.Connection, at: datetime, price: Decimal, views: int, purchases: int) -> None:
    session = uuid.uuid4()
    insert_click_rows(
        conn,
        [
            click_row(session, "U1", kind, "P001", at + timedelta(seconds=i), "mobile", price)
            for kind, n in (("product_view", views), ("purchase", purchases))
            for i in range(n)
        ],
    )


def test_results_and_the_stopping_rule_read_the_shops_events(database: str) -> None:
    experiment_id = _start(database, days=2)
    params = PARAMS.model_copy(update={"min_pairs": 16})  # 40 blocks: 16 hour slots seen on both days
    with psycopg.connect(database, autocommit=True) as conn:
        blocks = _blocks(conn, experiment_id)
        control, test = Decimal("899.99"), Decimal("943.99")
        for start, _, arm in blocks[:40]:
            price = control if arm == "A" else test
            # Arm B sells far less; and one view per block still showed the other price (a late switch).
            _events(conn, start + timedelta(minutes=1), price, 50, 5 if arm == "A" else 1)
            _events(conn, start, test if arm == "A" else control, 1, 0)
        until = blocks[40][0]
        result = experiment_store.results(conn, experiment_id, params, until)
        assert result.analysis is not None and result.views_left_out == 40
        a, b = result.analysis.arms
        assert (a.views, b.views) == (50 * a.blocks, 50 * b.blocks) and a.blocks + b.blocks == 40
        assert (a.units, b.units) == (5 * a.blocks, b.blocks)
        assert a.gross_profit == pytest.approx(float(5 * a.blocks * (control - Decimal("719.99"))))
        assert result.analysis.profit_uplift.high < -0.1 and result.analysis.elasticity.estimate < -20
        stopped = experiment_store.enforce_stopping_rule(conn, params, until)
        assert list(stopped) == [experiment_id] and "stopping rule" in stopped[experiment_id]
        status = conn.execute(
            "SELECT status, stopped_by, ended_at FROM price_experiments WHERE experiment_id = %s",
            (experiment_id,),
        ).fetchone()
        # ended at the rule's clock, never later than now (this test's clock runs ahead of it)
        assert status == ("stopped", "stopping rule", min(until, status[2])) and status[2] <= datetime.now(
            UTC
        )
        assert _price(conn, "P001") == control


def test_the_sensor_sets_the_arm_under_way(database: str) -> None:
    """The Dagster sensor, on the real clock: an experiment whose first block began in the last hour."""
    settings = default_settings().model_copy(update={"database_url": database})
    with psycopg.connect(database, autocommit=True) as conn:
        request = Request("now", "product", "P001", 5.0, 2, 60)
        plan = experiment_store.plan(conn, RULES, PARAMS, request, datetime.now(UTC) - timedelta(minutes=60))
        experiment_store.create(conn, plan, "Ada")
        arm = next(b.arm for b in plan.blocks if b.start <= datetime.now(UTC) < b.end)
        with dg.build_sensor_context(resources=build_resources(settings)) as context:
            result = price_experiments_sensor(context)
        assert isinstance(result, dg.SkipReason)
        expected = plan.arms[0].control_price if arm == "A" else plan.arms[0].test_price
        assert _price(conn, "P001") == expected
        assert (result.skip_message or "").startswith("0 experiment price changes" if arm == "A" else "1 ")


def test_a_category_experiment_moves_all_its_products_together(database: str) -> None:
    experiment_id = _start(database, scope="category", subject="tablets", pct=-4.0)
    with psycopg.connect(database, autocommit=True) as conn:
        arms = dict(
            conn.execute(
                "SELECT product_id, test_price FROM price_experiment_arms WHERE experiment_id = %s",
                (experiment_id,),
            ).fetchall()
        )
        tablets = {r[0] for r in conn.execute("SELECT product_id FROM products WHERE category = 'tablets'")}
        assert set(arms) == tablets and len(tablets) > 1
        first_b = next(start for start, _, arm in _blocks(conn, experiment_id) if arm == "B")
        assert set(experiment_store.run_due(conn, first_b)) == tablets
        assert {pid: _price(conn, pid) for pid in tablets} == arms


def test_bounds_narrowed_under_an_arm_stop_that_experiment_alone(database: str) -> None:
    _, approver = _roles(database)
    narrowed, other = _start(database, subject="P001"), _start(database, subject="P008")
    set_price_bounds(approver, "P001", None, Decimal("920.00"), "Ada")  # arm B (943.99) is now above it
    with psycopg.connect(database, autocommit=True) as conn:
        first_b = next(start for start, _, arm in _blocks(conn, narrowed) if arm == "B")
        experiment_store.run_due(conn, first_b + timedelta(seconds=1))
        rows = dict(
            conn.execute(
                "SELECT experiment_id, (status, stopped_by, stopped_reason) FROM price_experiments"
            ).fetchall()
        )
        assert rows[narrowed][:2] == ("stopped", "run_experiments")
        assert "outside the price bounds set since" in rows[narrowed][2]
        assert _price(conn, "P001") == Decimal("899.99")
        assert rows[other][0] == "running"
        (arm,) = [a for start, end, a in _blocks(conn, other) if start <= first_b < end]
        control, test = conn.execute(
            "SELECT control_price, test_price FROM price_experiment_arms WHERE experiment_id = %s", (other,)
        ).fetchone()  # type: ignore[misc]
        assert _price(conn, "P008") == (control if arm == "A" else test)
