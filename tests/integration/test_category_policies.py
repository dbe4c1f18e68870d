"""Pricing policy per category on a real PostgreSQL: the approver role edits it through the SECURITY DEFINER
functions (audited, bad values refused with the reason), the next cycle prices by it, and the what-if
preview, re-running the decision code on the cycle's stored inputs, predicts what that cycle then writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from pricing_platform.core import roles, tables
from pricing_platform.core.catalog import COMPETITORS, PRODUCTS_BY_ID
from pricing_platform.dashboard.policies import PolicyRefused, set_category_policy, set_price_bounds
from pricing_platform.pricing import cycle_inputs
from pricing_platform.pricing.cycle import run_cycle
from pricing_platform.pricing.policy import POLICY_SETTINGS
from pricing_platform.pricing.rules import PricingRules
from pricing_platform.pricing.whatif import preview
from tests.integration.test_profit_cycle import estimate, scrape, views

pytestmark = pytest.mark.integration


def _approver(database: str) -> str:
    return roles.role_conninfo(database, roles.PRICE_APPROVER)


def test_the_policy_table_has_one_column_per_policy_setting(database: str) -> None:
    with psycopg.connect(database) as conn:
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped ORDER BY attnum",
                (tables.CATEGORY_POLICIES,),
            )
        ]
    bookkeeping = ("category", "updated_by", "updated_at")
    assert [c for c in columns if c not in bookkeeping] == list(POLICY_SETTINGS)


def test_an_approver_edits_a_category_policy_and_every_change_is_audited(database: str) -> None:
    approver = _approver(database)
    changes = set_category_policy(
        approver, "phones", {"strategy": "profit", "max_step_pct": 5}, "Ada", "trial"
    )
    assert {(c.setting, c.old_value, c.new_value, c.changed_by) for c in changes} == {
        ("strategy", None, "profit", "Ada"),
        ("max_step_pct", None, 5, "Ada"),
    }
    # Setting what is stored already changes nothing and records nothing.
    assert set_category_policy(approver, "phones", {"max_step_pct": 5}, "Ada") == []
    back = set_category_policy(approver, "phones", {"strategy": None}, "Bo")
    assert [(c.setting, c.old_value, c.new_value) for c in back] == [("strategy", "profit", None)]
    with psycopg.connect(database) as conn:
        assert conn.execute(
            "SELECT strategy, max_step_pct, updated_by FROM category_policies WHERE category = 'phones'"
        ).fetchone() == (None, 5.0, "Bo")
        audit = conn.execute(
            "SELECT setting, changed_by, note FROM policy_changes ORDER BY policy_change_id"
        ).fetchall()
    assert audit == [
        ("max_step_pct", "Ada", "trial"),
        ("strategy", "Ada", "trial"),
        ("strategy", "Bo", None),
    ]


@pytest.mark.parametrize(
    ("category", "settings", "who", "refusal"),
    [
        (
            "phones",
            {"strategy": "guess"},
            "Ada",
            r'unknown strategy "guess" for phones; known: rules, profit',
        ),
        (
            "phones",
            {"max_step_pct": 80},
            "Ada",
            "refused for phones: max_step_pct must be above 0 and at most 50",
        ),
        ("phones", {"lower_gap_pct": -1}, "Ada", "lower_gap_pct must be above 0"),
        ("phones", {"lower_max_velocity": 2.5}, "Ada", "lower_max_velocity must be a whole number, not 2.5"),
        ("phones", {"min_margin_pct": "high"}, "Ada", 'min_margin_pct must be a number, not "high"'),
        ("phones", {"colour": "red"}, "Ada", "unknown setting colour; a category may set strategy, "),
        ("phones", {}, "Ada", "no setting to change"),
        ("toys", {"max_step_pct": 5}, "Ada", "category toys does not exist; the catalog has "),
        ("phones", {"max_step_pct": 5}, " ", "needs the name of the person making it"),
    ],
)
def test_a_bad_policy_is_refused_with_the_reason_and_changes_nothing(
    database: str, category: str, settings: dict[str, object], who: str, refusal: str
) -> None:
    with pytest.raises(PolicyRefused, match=refusal):
        set_category_policy(_approver(database), category, settings, who)
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM category_policies").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM policy_changes").fetchone() == (0,)


def test_price_bounds_are_set_audited_and_a_minimum_above_the_maximum_is_refused(database: str) -> None:
    approver = _approver(database)
    with pytest.raises(
        PolicyRefused, match=r"the minimum price 900\.00 of P001 is above its maximum price 800\.00"
    ):
        set_price_bounds(approver, "P001", Decimal("900.00"), Decimal("800.00"), "Ada")
    with pytest.raises(PolicyRefused, match="product P999 does not exist"):
        set_price_bounds(approver, "P999", None, Decimal("800.00"), "Ada")
    changes = set_price_bounds(approver, "P001", Decimal("850.00"), None, "Ada", "MAP from the brand")
    assert [(c.setting, c.old_value, c.new_value) for c in changes] == [("min_price", None, 850.0)]
    with psycopg.connect(database) as conn:
        assert conn.execute(
            "SELECT min_price, max_price FROM products WHERE product_id = 'P001'"
        ).fetchone() == (
            Decimal("850.00"),
            None,
        )


def test_only_the_approver_edits_policies_and_only_through_the_functions(database: str) -> None:
    reader = roles.role_conninfo(database, roles.DASHBOARD_READER)
    with psycopg.connect(reader, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM category_policies").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM set_category_policy('phones', '{\"max_step_pct\": 5}', 'mallory')")
    with (
        psycopg.connect(_approver(database), autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("INSERT INTO category_policies (category, updated_by) VALUES ('phones', 'mallory')")


def test_the_next_cycle_prices_by_the_saved_policy_as_the_preview_said(database: str) -> None:
    now = datetime.now(UTC)
    rules = PricingRules.defaults()
    with psycopg.connect(database, autocommit=True) as conn:
        for pid in ("P001", "P007"):
            base = float(PRODUCTS_BY_ID[pid].base_price)
            for competitor in COMPETITORS:
                scrape(conn, pid, competitor, base, base, now - timedelta(minutes=10))
        # P001 (phones): demand known (−2 at conversion 5 %, 100 views an hour), so profit would raise it.
        views(conn, "P001", 2400, 120, now)
        estimate(conn, "product", "P001", -2.0, 0.2, 0.05)
        run_cycle(conn, rules, now=now)
        stored = cycle_inputs.load_latest(conn)
        assert stored is not None
        written = dict(
            conn.execute(
                "SELECT product_id, recommended_price::float8 FROM pricing_recommendations_latest"
            ).fetchall()
        )

        unchanged = preview(stored, "phones", {})
        assert unchanged.changes == []
        what_if = preview(stored, "phones", {"strategy": "profit"})
        assert [c.product_id for c in what_if.changes] == ["P001"]
        change = what_if.changes[0]
        assert (change.recommendation_before, change.price_before) == ("hold", written["P001"])
        assert change.recommendation_after == "raise" and change.price_after > change.price_before
        assert change.profit_after > change.profit_before
        assert what_if.profit_after - what_if.profit_before == pytest.approx(
            change.profit_after - change.profit_before
        )

        set_category_policy(_approver(database), "phones", {"strategy": "profit"}, "Ada")
        run_cycle(conn, rules, now=now)
        latest = dict(
            (r[0], r[1:])
            for r in conn.execute(
                "SELECT product_id, strategy, recommendation, recommended_price::float8 "
                "FROM pricing_recommendations_latest"
            )
        )
    assert latest["P001"] == ("profit", "raise", change.price_after)
    assert latest["P007"][0] == "rules"  # another category keeps the environment's strategy


def test_a_cycle_keeps_only_the_newest_inputs_and_stores_them_at_most_every_interval(database: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(database, autocommit=True) as conn:
        for competitor in COMPETITORS:
            scrape(conn, "P001", competitor, 899.99, 899.99, now - timedelta(minutes=1))
        every_cycle = PricingRules.defaults().model_copy(update={"inputs_store_interval_s": 0.0})
        for _ in range(cycle_inputs.KEPT_CYCLES + 2):
            last = run_cycle(conn, every_cycle, now=now)
        stored = conn.execute("SELECT count(*) FROM pricing_cycle_inputs").fetchone()
        latest = cycle_inputs.load_latest(conn)
        # With an interval, a cycle within it stores nothing (a large catalog saves the cost).
        run_cycle(
            conn, PricingRules.defaults().model_copy(update={"inputs_store_interval_s": 600.0}), now=now
        )
        after = cycle_inputs.load_latest(conn)
    assert stored == (cycle_inputs.KEPT_CYCLES,)
    assert latest is not None and latest.cycle_id == last.cycle_id
    assert latest.inputs["product_id"].tolist() == ["P001"]
    assert after is not None and after.cycle_id == last.cycle_id
