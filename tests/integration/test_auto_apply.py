"""Automatic application on a real PostgreSQL: a checked cycle's moves inside the category's band are
applied through the audited path (price, audit row, outbox row), the rest wait in the review queue with
the reason; the kill switch, the daily cap, confidence, rejections and snoozes hold moves back; a band
above the max step is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from pydantic import ValidationError

from pricing_platform.core import roles
from pricing_platform.core.catalog import COMPETITORS
from pricing_platform.core.settings import Settings
from pricing_platform.dashboard import approvals
from pricing_platform.dashboard.policies import (
    PolicyRefused,
    review_recommendation,
    set_auto_apply,
    set_category_policy,
)
from pricing_platform.pricing.auto_apply import apply_cycle
from pricing_platform.pricing.cycle import CycleSummary, run_cycle
from pricing_platform.pricing.rules import PricingRules
from tests.integration.test_profit_cycle import scrape

pytestmark = pytest.mark.integration

RULES = PricingRules.defaults()  # band 0 by default: only the categories' policies apply anything


def _market(conn: psycopg.Connection) -> None:
    """P001 (phones) 3.4 % above its competitors: with phones' lower gap at 2 % the rules lower it 4.3 %
    (inside a 5 % band). P007 (laptops) 25 % above: lowered by the full 10 % step (outside it)."""
    now = datetime.now(UTC)
    for pid, ours, theirs in (("P001", 899.99, 870.0), ("P007", 1999.99, 1600.0)):
        for competitor in COMPETITORS:
            scrape(conn, pid, competitor, theirs, ours, now - timedelta(seconds=30))


def checked_cycle(conn: psycopg.Connection, passed: bool = True) -> CycleSummary:
    """A pricing cycle and its verdict, as the checks sensor records it (the checks themselves are tested
    in test_quality.py)."""
    cycle = run_cycle(conn, RULES)
    conn.execute(
        "INSERT INTO pricing_cycle_checks (cycle_id, cycle_created_at, passed, failed_checks) "
        "SELECT cycle_id, min(created_at), %s, %s FROM pricing_recommendations WHERE cycle_id = %s "
        "GROUP BY cycle_id",
        (passed, [] if passed else ["recommendations_confidence_in_range"], cycle.cycle_id),
    )
    return cycle


def _queue(conn: psycopg.Connection) -> dict[str, str | None]:
    return dict(conn.execute("SELECT product_id, auto_apply_outcome FROM review_queue").fetchall())


@pytest.fixture
def approver(database: str) -> str:
    conninfo = roles.role_conninfo(database, roles.PRICE_APPROVER)
    set_category_policy(conninfo, "phones", {"lower_gap_pct": 2, "auto_apply_band_pct": 5}, "Ada")
    set_category_policy(conninfo, "laptops", {"auto_apply_band_pct": 5}, "Ada")
    return conninfo


def test_moves_inside_the_band_are_applied_and_the_rest_wait_with_the_reason(
    database: str, approver: str
) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        _market(conn)
        cycle = checked_cycle(conn)
        outcomes = {o.product_id: o for o in apply_cycle(conn, cycle.cycle_id, RULES)}
        assert {pid: o.outcome for pid, o in outcomes.items()} == {"P001": "applied", "P007": "outside_band"}
        assert "a 10.0 % move is outside the ±5 % band of laptops" in outcomes["P007"].detail
        change = conn.execute(
            "SELECT c.old_price::float8, c.new_price::float8, c.approved_by, p.current_price::float8, "
            "(SELECT count(*) FROM price_change_outbox o WHERE o.change_id = c.change_id) "
            "FROM price_changes c JOIN products p USING (product_id) WHERE c.product_id = 'P001'"
        ).fetchall()
        assert change == [(899.99, 860.99, "auto-apply policy", 860.99, 1)]
        assert _queue(conn) == {"P007": "outside_band"}
        # A cycle is decided once: applying it again changes and records nothing.
        assert apply_cycle(conn, cycle.cycle_id, RULES) == []
        assert conn.execute("SELECT count(*) FROM price_changes").fetchone() == (1,)


def test_the_kill_switch_stops_every_category_and_is_audited(database: str, approver: str) -> None:
    assert [c.new_value for c in set_auto_apply(approver, False, "Bo", "incident 42")] == [False]
    with psycopg.connect(database, autocommit=True) as conn:
        _market(conn)
        cycle = checked_cycle(conn)
        outcomes = {o.product_id: o.outcome for o in apply_cycle(conn, cycle.cycle_id, RULES)}
        assert outcomes == {"P001": "switched_off", "P007": "switched_off"}
        assert conn.execute("SELECT count(*) FROM price_changes").fetchone() == (0,)
        assert conn.execute(
            "SELECT scope, setting, changed_by, note FROM policy_changes WHERE scope = 'global'"
        ).fetchall() == [("global", "auto_apply_enabled", "Bo", "incident 42")]
    set_auto_apply(approver, True, "Bo")
    with psycopg.connect(database, autocommit=True) as conn:
        cycle = checked_cycle(conn)
        assert {o.product_id: o.outcome for o in apply_cycle(conn, cycle.cycle_id, RULES)}[
            "P001"
        ] == "applied"


def test_the_daily_cap_and_the_confidence_hold_moves_back(database: str, approver: str) -> None:
    set_category_policy(approver, "phones", {"max_changes_per_day": 1, "auto_apply_min_confidence": 0}, "Ada")
    with psycopg.connect(database, autocommit=True) as conn:
        _market(conn)
        conn.execute("SELECT apply_price_change('P001', 889.99, 'Ada', 'a manual change today')")
        cycle = checked_cycle(conn)
        [p001] = [o for o in apply_cycle(conn, cycle.cycle_id, RULES) if o.product_id == "P001"]
        assert p001.outcome == "daily_cap"
        assert "1 price changes in the last 24 h reach the cap of 1" in p001.detail
    set_category_policy(
        approver, "phones", {"max_changes_per_day": 5, "auto_apply_min_confidence": 0.99}, "Ada"
    )
    with psycopg.connect(database, autocommit=True) as conn:
        cycle = checked_cycle(conn)
        [p001] = [o for o in apply_cycle(conn, cycle.cycle_id, RULES) if o.product_id == "P001"]
        assert p001.outcome == "low_confidence" and "is below the 0.99 required in phones" in p001.detail


def test_a_rejected_move_and_a_snoozed_product_leave_the_queue_and_are_not_applied(
    database: str, approver: str
) -> None:
    set_category_policy(approver, "laptops", {"auto_apply_band_pct": 10}, "Ada")
    with psycopg.connect(database, autocommit=True) as conn:
        _market(conn)
        set_auto_apply(approver, False, "Ada")
        first = checked_cycle(conn)
        apply_cycle(conn, first.cycle_id, RULES)
        latest = dict(
            conn.execute(
                "SELECT product_id, recommendation_id FROM pricing_recommendations_latest"
            ).fetchall()
        )
    with pytest.raises(PolicyRefused, match="a rejection needs a note saying why"):
        review_recommendation(approver, latest["P007"], "rejected", "Ada")
    with pytest.raises(PolicyRefused, match="a snooze lasts more than 0 and at most 720 hours"):
        review_recommendation(approver, latest["P001"], "snoozed", "Ada", snooze_hours=0)
    review_recommendation(approver, latest["P007"], "rejected", "Ada", "the brand forbids cuts this week")
    snooze = review_recommendation(approver, latest["P001"], "snoozed", "Ada", snooze_hours=2)
    assert snooze.snoozed_until is not None and snooze.snoozed_until > datetime.now(UTC) + timedelta(
        hours=1.9
    )
    set_auto_apply(approver, True, "Ada")
    with psycopg.connect(database, autocommit=True) as conn:
        assert _queue(conn) == {}
        cycle = checked_cycle(conn)  # the same moves again
        outcomes = {o.product_id: o.outcome for o in apply_cycle(conn, cycle.cycle_id, RULES)}
        assert outcomes == {"P001": "held_by_review", "P007": "held_by_review"}
        assert _queue(conn) == {}
        assert conn.execute("SELECT count(*) FROM price_changes").fetchone() == (0,)


def test_a_band_above_the_max_step_is_refused(database: str, approver: str) -> None:
    with pytest.raises(
        PolicyRefused, match="refused for phones: auto_apply_band_pct must not be above max_step_pct"
    ):
        set_category_policy(approver, "phones", {"max_step_pct": 4}, "Ada")
    with pytest.raises(
        ValidationError, match="PRICING_AUTO_APPLY_BAND_PCT 12 is above PRICING_MAX_STEP_PCT 10"
    ):
        Settings(pricing_auto_apply_band_pct=12)
    rules = RULES.model_copy(update={"auto_apply_band_pct": 12.0})
    assert rules.problems() == [
        "auto_apply_band_pct 12 is above max_step_pct 10: no move is larger than the step, so lower the band "
        "to at most it"
    ]


def test_a_cycle_that_failed_its_checks_is_not_applied_queued_or_approvable(
    database: str, approver: str
) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        _market(conn)
        unchecked = run_cycle(conn, RULES)
        with pytest.raises(psycopg.Error, match="has not passed its checks"):
            apply_cycle(conn, unchecked.cycle_id, RULES)
        failed = checked_cycle(conn, passed=False)
        with pytest.raises(psycopg.Error, match="has not passed its checks"):
            apply_cycle(conn, failed.cycle_id, RULES)
        assert _queue(conn) == {}
        [withheld] = conn.execute(
            "SELECT recommendation_id FROM pricing_recommendations_latest WHERE product_id = 'P007'"
        ).fetchone() or [None]
    with pytest.raises(
        approvals.ApprovalRefused,
        match=r"comes from a cycle that failed its checks \(recommendations_confidence",
    ):
        approvals.approve(approver, withheld, "Ada")


def test_a_rejection_holds_only_the_same_move_from_the_same_price(database: str, approver: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        _market(conn)
        set_auto_apply(approver, False, "Ada")
        checked_cycle(conn)
        [rejected] = conn.execute(
            "SELECT recommendation_id FROM pricing_recommendations_latest WHERE product_id = 'P007'"
        ).fetchone() or [None]
        review_recommendation(approver, rejected, "rejected", "Ada", "not this week")
        assert "P007" not in _queue(conn)
        # The price moves by another path; the engine's move towards the same target starts elsewhere.
        conn.execute("SELECT apply_price_change('P007', 1899.99, 'Bo', 'a manual change')")
        checked_cycle(conn)
        assert "P007" in _queue(conn)
