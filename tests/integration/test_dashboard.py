"""The dashboard against a real PostgreSQL: every page with a realistic shop in the database, every page on
an empty one, the database down, the roles' limits, and the approval flow end to end."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from streamlit.testing.v1 import AppTest

from pricing_platform.core import roles, tables
from pricing_platform.core.settings import Settings
from pricing_platform.dashboard import approvals
from pricing_platform.pricing.cycle import run_cycle
from pricing_platform.pricing.rules import PricingRules
from tests.support.factories import experiment_with_events
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

PAGES_DIR = Path(__file__).resolve().parents[2] / "pricing_platform" / "dashboard" / "views"
PAGES = (
    "overview", "pricing", "policy", "experiments", "inventory", "competitors", "funnel", "elasticity", "rfm",
    "forecast",
)  # fmt: skip


def page(name: str, conninfo: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("DATABASE_URL", conninfo)
    for variable in ("DASHBOARD_DATABASE_URL", "APPROVALS_DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    app = AppTest.from_file(str(PAGES_DIR / f"{name}.py"), default_timeout=60)
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def texts(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [i.value for i in app.info] + [e.value for e in app.error]
    parts += [s.value for s in app.success] + [w.value for w in app.warning] + [t.value for t in app.title]
    parts += [m.label for m in app.metric] + [m.value for m in app.metric] + [s.value for s in app.subheader]
    return "\n".join(str(p) for p in parts)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    import streamlit as st

    st.cache_data.clear()
    yield


# --- every page with data ------------------------------------------------------------------------------


def test_overview_shows_live_kpis(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = page("overview", shop, monkeypatch)
    labels = {m.label: m.value for m in app.metric}
    # The shop's six hours end now: just after midnight UTC, "today" holds only their last minutes. The
    # mart gives a session's purchases to the UTC day it started on.
    with psycopg.connect(shop) as conn:
        today = conn.execute(
            "SELECT coalesce(sum(product_price), 0) FROM clickstream_events WHERE event_type = 'purchase' "
            "AND session_id IN (SELECT session_id FROM clickstream_events GROUP BY session_id "
            "HAVING min(event_time) >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
        ).fetchone()[0]
    assert labels["Revenue today (UTC)"] == f"{today:,.2f}"
    assert labels["Session conversion (24 h)"].endswith("%")
    # The one pricing cycle decided for every product with competitor data.
    decided = sum(int(labels.get(kind, 0)) for kind in ("raise", "lower", "hold"))
    assert decided == 30
    assert not app.error


def test_overview_shows_shoppers_per_minute_and_abandoned_carts(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the stream processor landed: four sessions with 3+ cart adds, one of them bought."""
    with psycopg.connect(database) as conn:
        for i, (carts, purchases) in enumerate([(3, 0), (4, 0), (5, 0), (3, 1), (1, 0)]):
            conn.execute(
                "INSERT INTO shopper_sessions VALUES (gen_random_uuid(), %s, 'mobile', now() - interval "
                "'20 minutes', now() - interval '10 minutes', %s, 1, '{P001}', %s, %s, 0, %s)",
                (f"u{i}", carts + purchases + 1, carts, purchases, purchases > 0),
            )
        for products in (["P001", "P002"], ["P001"], ["P003"]):
            conn.execute(
                "INSERT INTO cart_abandonments VALUES (gen_random_uuid(), 'u', 'mobile', now() - interval "
                "'15 minutes', now() - interval '12 minutes', 3, %s, 10)",
                (products,),
            )
        # The newest minute may miss partitions still open: the one before it is the complete one.
        conn.execute(
            "INSERT INTO funnel_minutes (product_id, minute, product_category, product_views, cart_adds, "
            "purchases) VALUES ('P001', date_trunc('minute', now()) - interval '2 minutes', 'phones', "
            "7, 2, 1), ('P002', date_trunc('minute', now()) - interval '1 minute', 'phones', 1, 0, 0)"
        )
    app = page("overview", database, monkeypatch)
    labels = {m.label: m.value for m in app.metric}
    assert labels["Cart abandonment (24 h)"] == "75.0 %"
    assert labels["Abandoned carts (24 h)"] == "3"
    assert labels["product views in the last complete minute"] == "7"
    top = app.dataframe[-1].value
    assert list(top["product_id"][:1]) == ["P001"] and int(top["abandoned_carts"].iloc[0]) == 2


def test_pricing_lists_every_product_with_reason_and_confidence(
    shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = page("pricing", shop, monkeypatch)
    table = app.dataframe[0].value
    assert len(table) == 30
    assert {"recommendation", "confidence", "reason", "guardrail"} <= set(table.columns)
    assert table["reason"].str.len().min() > 20
    assert app.selectbox(key="history_product").options


def test_inventory_shows_every_slot(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = page("inventory", shop, monkeypatch)
    stock = app.dataframe[0].value
    assert stock.shape == (30, 3)
    labels = {m.label for m in app.metric}
    assert {"Units on hand", "Slots out of stock"} <= labels


def test_competitors_rank_who_undercuts_most(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = page("competitors", shop, monkeypatch)
    leader = next(m for m in app.metric if m.label == "Undercuts most")
    assert leader.value in {"TechMart", "GadgetZone", "ElectroHub"}
    ranking = app.dataframe[0].value
    assert list(ranking["products_cheaper"]) == sorted(ranking["products_cheaper"], reverse=True)


def test_funnel_reads_the_marts_and_the_analytics(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = page("funnel", shop, monkeypatch)
    assert not app.error
    assert "not built yet" not in texts(app) and "no data yet" not in texts(app)
    assert next(m for m in app.metric if m.label == "Steepest drop-off").value.startswith("into ")
    assert len(app.get("plotly_chart")) == 3


def test_elasticity_reports_the_revenue_impact_of_the_lower_recommendations(
    shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = page("elasticity", shop, monkeypatch)
    labels = {m.label: m.value for m in app.metric}
    assert labels["Elasticity"] == "-1.50"
    assert int(labels["Products to lower"]) >= 1  # the shop has three promoted, slow-selling products
    assert labels["Revenue impact of following them"].startswith(("+", "-"))
    assert len(app.dataframe[0].value) == 30


def test_elasticity_shows_the_learned_estimates_with_intervals_and_evidence(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(database) as conn:
        for scope, subject, value, source, note in (
            ("category", "phones", -1.9, "own", "pooled over 6 of 6 products with price variation"),
            ("product", "P001", -2.05, "shrunk", "own slope -2.20 ± 0.30, weight 0.31"),
            ("product", "P002", -1.9, "category", "not enough price variation (0.0 % sd over 1 prices)"),
        ):  # fmt: skip
            conn.execute(
                f"INSERT INTO {tables.DEMAND_ESTIMATES} (scope, subject, category, elasticity, std_error, "
                "ci_low, ci_high, ci_level, source, views, purchases, price_points, price_sd_pct, "
                "conversion, note, window_start, window_end) VALUES (%s, %s, 'phones', %s, 0.2, %s, %s, 0.9, "
                "%s, 20000, 900, 5, 4.5, 0.03, %s, now() - interval '28 days', now())",
                (scope, subject, value, value - 0.33, value + 0.33, source, note),
            )
    app = page("elasticity", database, monkeypatch)
    phones = next(m for m in app.metric if m.label == "phones")
    assert phones.value == "-1.90"
    assert "90% interval [-2.23, -1.57]" in phones.help and "900 purchases" in phones.help
    table = app.dataframe[0].value
    assert list(table["subject"]) == ["phones", "P001", "P002"]
    assert "not enough price variation" in table.set_index("subject").loc["P002", "note"]
    assert len(app.get("plotly_chart")) >= 1


def test_rfm_shows_segments_and_their_revenue(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = page("rfm", shop, monkeypatch)
    segments = app.dataframe[0].value
    assert set(segments["segment"]) <= {
        "Champions", "Loyal Customers", "Potential Loyalists", "Big Spenders",
        "At Risk", "Lost", "Needs Attention",
    }  # fmt: skip
    labels = {m.label: m.value for m in app.metric}
    assert int(labels["Buyers"].replace(",", "")) == segments["customers"].sum()


def test_forecast_shows_six_hours_ahead_per_category(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = page("forecast", shop, monkeypatch)
    ahead = app.dataframe[0].value
    assert list(ahead.columns) == [1, 2, 3, 4, 5, 6]
    assert len(ahead) == 5
    assert app.selectbox(key="forecast_category").options


def test_policy_previews_an_edit_on_the_latest_cycle_without_saving_it(
    shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = page("policy", shop, monkeypatch)
    assert "Policy per category" in texts(app)
    app.selectbox(key="policy_category").set_value("phones")
    app.run()
    app.radio[0].set_value("profit")
    next(b for b in app.button if b.label == "Preview").click()
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    labels = {m.label: m.value for m in app.metric}
    changed, of = labels["Recommendations that change"].split(" of ")
    with psycopg.connect(shop) as conn:
        phones = conn.execute("SELECT count(*) FROM products WHERE category = 'phones'").fetchone()
        stored = conn.execute("SELECT count(*) FROM category_policies").fetchone()
    assert phones is not None and int(of) == phones[0] and int(changed) >= 0
    assert "Predicted gross profit per hour" in labels
    assert stored == (0,)  # a preview saves nothing


def test_a_whole_number_setting_is_saved_as_one(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = page("policy", database, monkeypatch)
    app.number_input(key="phones:max_changes_per_day").set_value(3)
    app.text_input(key="policy_analyst").input("Ada")
    next(b for b in app.button if b.label == "Save policy").click()
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    assert "Saved by Ada for phones: max_changes_per_day 4 (default) → 3" in texts(app)
    with psycopg.connect(database) as conn:
        stored = conn.execute("SELECT max_changes_per_day FROM category_policies").fetchall()
    assert stored == [(3,)]


def test_experiments_page_starts_one_and_refuses_an_arm_outside_the_guardrails(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = page("experiments", database, monkeypatch)
    app.selectbox(key="experiment_product").set_value("P001")
    app.number_input(key="experiment_pct").set_value(25.0)
    app.text_input(key="experiment_name").input("phones +25")
    app.text_input(key="experiment_analyst").input("Ada")
    next(b for b in app.button if b.label == "Start the experiment").click()
    app.run()
    assert (
        "Not started: an arm breaks a guardrail: P001: switching between 899.99 and arm B at 1123.99 moves "
        "the price 24.9 %, above the max step of 10 % in phones" in texts(app)
    )
    app.number_input(key="experiment_pct").set_value(5.0)
    next(b for b in app.button if b.label == "Start the experiment").click()
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    with psycopg.connect(database) as conn:
        stored = conn.execute(
            "SELECT e.name, e.created_by, a.product_id, a.control_price::float8, a.test_price::float8 "
            "FROM price_experiments e JOIN price_experiment_arms a USING (experiment_id)"
        ).fetchall()
    assert stored == [("phones +25", "Ada", "P001", 899.99, 943.99)]
    assert "starts at the next block boundary" in texts(app)


def test_experiments_page_shows_each_arm_the_uplift_and_the_elasticity(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        experiment_with_events(conn, "P003", hours_ago=30)
    app = page("experiments", database, monkeypatch)
    shown = texts(app)
    assert "Gross profit per view, B vs A" in shown and "Implied elasticity" in shown
    assert "hour-slot pairs complete" in shown
    assert sum("90% interval" in c.value for c in app.caption) == 4  # uplifts and elasticity
    (per_arm,) = [d.value for d in app.dataframe if "conversion %" in d.value.columns]
    assert list(per_arm["arm"]) == ["A (control)", "B (test)"]
    assert per_arm["views"].sum() == 60 * (per_arm["blocks"].sum() - 1)  # 60 per block, none in the current
    # Stopping it puts the price back to the control.
    app.text_input(key="stop_analyst_1").input("Ada")
    app.text_input(key="stop_reason_1").input("launch moved")
    next(b for b in app.button if b.label.startswith("Stop the experiment")).click()
    app.run()
    assert "Experiment 1 stopped by Ada." in texts(app)
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT status FROM price_experiments").fetchone() == ("stopped",)


# --- empty database, database down ----------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_every_page_explains_an_empty_database(
    name: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = page(name, database, monkeypatch)
    assert "no data yet" in texts(app) or "not built yet" in texts(app)
    assert not app.error


@pytest.mark.parametrize("name", PAGES)
def test_every_page_reports_an_unreachable_database(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    closed = f"postgresql://pricing@127.0.0.1:{port}/pricing"
    monkeypatch.setenv(
        "DASHBOARD_DATABASE_URL", f"postgresql://pricing_dashboard:s3cret@127.0.0.1:{port}/pricing"
    )
    app = AppTest.from_file(str(PAGES_DIR / f"{name}.py"), default_timeout=60)
    monkeypatch.setenv("DATABASE_URL", closed)
    app.run()
    assert not app.exception
    assert len(app.error) == 1
    message = app.error[0].value
    assert "Cannot reach the database" in message and f"pricing_dashboard@127.0.0.1:{port}" in message
    assert "Connection refused" in message  # the cause, not libpq's hint
    assert "s3cret" not in texts(app)


# --- roles ---------------------------------------------------------------------------------------------


def test_the_reader_role_reads_but_cannot_write_or_scan_events(database: str) -> None:
    reader = roles.role_conninfo(database, roles.DASHBOARD_READER)
    with psycopg.connect(reader, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM products").fetchone() == (30,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE products SET current_price = 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM clickstream_events")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM approve_recommendation(1, 'mallory')")


def test_the_approver_role_can_only_approve(database: str) -> None:
    approver = roles.role_conninfo(database, roles.PRICE_APPROVER)
    with psycopg.connect(approver, autocommit=True) as conn:
        for statement in ("SELECT count(*) FROM products", "UPDATE products SET current_price = 1"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_the_reader_role_may_read_the_marts(shop: str) -> None:
    schema = Settings().dbt_marts_schema
    reader = roles.role_conninfo(shop, roles.DASHBOARD_READER)
    with psycopg.connect(reader, autocommit=True) as conn:
        for mart in tables.MARTS:
            conn.execute(
                psycopg.sql.SQL("SELECT 1 FROM {} LIMIT 1").format(psycopg.sql.Identifier(schema, mart))
            )


# --- approvals -----------------------------------------------------------------------------------------


def _market(conninfo: str, product_id: str, competitor_price: Decimal) -> int:
    """Every competitor well below us and no demand: the engine recommends `lower`. Returns its id."""
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO competitor_prices_latest (event_id, product_id, competitor_name, competitor_price, "
            "our_price, price_difference, price_difference_pct, event_time) "
            "SELECT gen_random_uuid(), %(p)s, c, %(price)s, current_price, %(price)s - current_price, "
            "round((%(price)s - current_price) / current_price * 100, 2), now() "
            "FROM products, unnest(%(competitors)s::text[]) AS c WHERE product_id = %(p)s",
            {
                "p": product_id,
                "price": competitor_price,
                "competitors": ["TechMart", "GadgetZone", "ElectroHub"],
            },
        )
        run_cycle(conn, PricingRules.from_settings(Settings()))
        row = conn.execute(
            "SELECT recommendation_id, recommendation FROM pricing_recommendations_latest "
            "WHERE product_id = %s",
            (product_id,),
        ).fetchone()
    assert row is not None and row[1] == "lower", row
    return row[0]


def _price(conninfo: str, product_id: str) -> Decimal:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT current_price FROM products WHERE product_id = %s", (product_id,)
        ).fetchone()
    assert row is not None
    return row[0]


def test_approving_in_the_dashboard_changes_the_price_and_writes_the_audit_row(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _price(database, "P001")
    recommendation_id = _market(database, "P001", before * Decimal("0.7"))
    app = page("pricing", database, monkeypatch)
    app.selectbox(key="approve_choice").set_value(recommendation_id)
    app.text_input(key="analyst").input("Ada Analyst")
    app.text_input(key="approve_note").input("matching the market").run()
    app.button(key="approve").click().run()
    assert not app.exception
    assert [s.value for s in app.success], [e.value for e in app.error]
    assert "Approved by Ada Analyst" in app.success[0].value

    after = _price(database, "P001")
    assert after < before
    with psycopg.connect(database) as conn:
        audit = conn.execute(
            "SELECT product_id, recommendation_id, old_price, new_price, approved_by, note, "
            "approved_at <= now() FROM price_changes"
        ).fetchall()
        assert audit == [
            ("P001", recommendation_id, before, after, "Ada Analyst", "matching the market", True)
        ]
        # The engine works from the approved price from its next cycle on.
        run_cycle(conn, PricingRules.from_settings(Settings()))
        row = conn.execute(
            "SELECT current_price FROM pricing_recommendations_latest WHERE product_id = 'P001'"
        ).fetchone()
    assert row == (after,)
    # The audit trail on the page lists it.
    app.run()
    assert "Ada Analyst" in app.dataframe[-1].value["approved_by"].tolist()


def test_approval_needs_a_choice_and_a_name(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _price(database, "P002")
    recommendation_id = _market(database, "P002", before * Decimal("0.7"))
    app = page("pricing", database, monkeypatch)
    assert app.button(key="approve").disabled
    app.selectbox(key="approve_choice").set_value(recommendation_id).run()
    assert app.button(key="approve").disabled, "no name given"
    app.text_input(key="analyst").input("   ").run()
    assert app.button(key="approve").disabled, "a blank name is no name"
    assert _price(database, "P002") == before


def test_the_database_refuses_stale_repeated_and_hold_approvals(database: str) -> None:
    approver = roles.role_conninfo(database, roles.PRICE_APPROVER)
    before = _price(database, "P003")
    first = _market(database, "P003", before * Decimal("0.7"))
    change = approvals.approve(approver, first, "Ada")
    assert (change.old_price, change.new_price) == (before, _price(database, "P003"))
    with pytest.raises(approvals.ApprovalRefused, match="already approved"):
        approvals.approve(approver, first, "Ada")
    # A recommendation computed from the old price cannot be applied over the new one.
    with psycopg.connect(database) as conn:
        stale = conn.execute(
            "INSERT INTO pricing_recommendations (cycle_id, product_id, current_price, competitors_seen, "
            "demand_velocity, recommendation, recommended_price, confidence, reason) "
            "VALUES (gen_random_uuid(), 'P003', %s, 3, 0, 'lower', %s, 0.9, 'test') "
            "RETURNING recommendation_id",
            (before, before - 1),
        ).fetchone()[0]
        hold = conn.execute(
            "INSERT INTO pricing_recommendations (cycle_id, product_id, current_price, competitors_seen, "
            "demand_velocity, recommendation, recommended_price, confidence, reason) "
            "SELECT gen_random_uuid(), 'P004', current_price, 3, 0, 'hold', current_price, 0.9, 'test' "
            "FROM products WHERE product_id = 'P004' RETURNING recommendation_id"
        ).fetchone()[0]
    with pytest.raises(approvals.ApprovalRefused, match=r"not the .* that recommendation"):
        approvals.approve(approver, stale, "Ada")
    with pytest.raises(approvals.ApprovalRefused, match="is hold"):
        approvals.approve(approver, hold, "Ada")
    with pytest.raises(approvals.ApprovalRefused, match="name of the analyst"):
        approvals.approve(approver, first, "  ")
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM price_changes").fetchone() == (1,)


def test_an_approval_applies_the_recommendation_on_screen_even_after_a_new_cycle(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The options change under the analyst (a cycle lands between render and click): the click approves
    what was on screen, never whichever recommendation a rerun would list first."""
    for product_id in ("P001", "P002"):
        _market(database, product_id, _price(database, product_id) * Decimal("0.7"))
    app = page("pricing", database, monkeypatch)
    options = app.selectbox(key="approve_choice").options
    assert len(options) == 2 and app.selectbox(key="approve_choice").value is None
    assert app.button(key="approve").disabled, "nothing chosen, no name: nothing to approve"
    chosen = _id_for(database, "P002")
    app.selectbox(key="approve_choice").set_value(chosen)
    app.text_input(key="analyst").input("Ada").run()
    with psycopg.connect(database) as conn:
        run_cycle(conn, PricingRules.from_settings(Settings()))  # new ids, same decisions
    import streamlit as st

    st.cache_data.clear()
    app.button(key="approve").click().run()
    assert [s.value for s in app.success], [e.value for e in app.error]
    with psycopg.connect(database) as conn:
        approved = conn.execute("SELECT product_id, recommendation_id FROM price_changes").fetchall()
    assert approved == [("P002", chosen)]
    assert app.selectbox(key="approve_choice").value is None, "the choice resets after an approval"


def _id_for(conninfo: str, product_id: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT recommendation_id FROM pricing_recommendations_latest WHERE product_id = %s",
            (product_id,),
        ).fetchone()
    assert row is not None
    return row[0]


def test_the_database_refuses_a_superseded_recommendation(database: str) -> None:
    approver = roles.role_conninfo(database, roles.PRICE_APPROVER)
    before = _price(database, "P005")
    old = _market(database, "P005", before * Decimal("0.7"))
    with psycopg.connect(database) as conn:  # the market recovers: the engine now holds
        conn.execute(
            "UPDATE competitor_prices_latest SET competitor_price = %s, event_time = now() "
            "WHERE product_id = 'P005'",
            (before,),
        )
        run_cycle(conn, PricingRules.from_settings(Settings()))
    with pytest.raises(approvals.ApprovalRefused, match="superseded: the engine now says hold"):
        approvals.approve(approver, old, "Ada")
    assert _price(database, "P005") == before


def test_concurrent_approvals_of_one_recommendation_apply_it_once(database: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    approver = roles.role_conninfo(database, roles.PRICE_APPROVER)
    recommendation_id = _market(database, "P006", _price(database, "P006") * Decimal("0.7"))

    def attempt(who: str) -> str:
        try:
            approvals.approve(approver, recommendation_id, who)
        except approvals.ApprovalRefused as refused:
            return str(refused)
        return "approved"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attempt, ["A", "B", "C", "D"]))
    assert outcomes.count("approved") == 1
    assert all("already approved" in o for o in outcomes if o != "approved")
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM price_changes").fetchone() == (1,)


def test_an_unreachable_database_during_an_approval_is_reported_and_changes_nothing() -> None:
    closed = f"postgresql://pricing_approver@127.0.0.1:{free_port()}/pricing"
    with pytest.raises(approvals.ApprovalFailed, match="nothing changed"):
        approvals.approve(closed, 1, "Ada")


def test_the_reader_role_cannot_create_objects(database: str) -> None:
    reader = roles.role_conninfo(database, roles.DASHBOARD_READER)
    with (
        psycopg.connect(reader, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("CREATE TABLE public.sneaky (x int)")


def test_the_latest_view_returns_what_distinct_on_over_the_history_returns(database: str) -> None:
    """Migration 0005 rewrote the view as per-product lookups; the rows must be those of the original
    definition, ties on created_at included."""
    with psycopg.connect(database) as conn:
        conn.execute(
            "INSERT INTO competitor_prices_latest (event_id, product_id, competitor_name, competitor_price, "
            "our_price, price_difference, price_difference_pct, event_time) "
            "SELECT gen_random_uuid(), product_id, c, current_price, current_price, 0, 0, now() "
            "FROM products, unnest(%s::text[]) AS c",
            (["TechMart", "GadgetZone", "ElectroHub"],),
        )
        for _ in range(3):
            run_cycle(conn, PricingRules.from_settings(Settings()))
        # A tie: two rows of one product with the same created_at; the higher id wins in both forms.
        conn.execute(
            "INSERT INTO pricing_recommendations (cycle_id, product_id, current_price, competitors_seen, "
            "demand_velocity, recommendation, recommended_price, confidence, reason, created_at) "
            "SELECT gen_random_uuid(), product_id, current_price, 0, 0, 'hold', current_price, 0, 'tie', t "
            "FROM products, (SELECT max(created_at) AS t FROM pricing_recommendations) m, "
            "generate_series(1, 2) "
            "WHERE product_id IN ('P001', 'P002')"
        )
        view = conn.execute("SELECT * FROM pricing_recommendations_latest ORDER BY product_id").fetchall()
        original = conn.execute(
            "SELECT DISTINCT ON (product_id) * FROM pricing_recommendations "
            "ORDER BY product_id, created_at DESC, recommendation_id DESC"
        ).fetchall()
    assert len(view) == 30
    assert view == original


def test_behind_a_proxy_approvals_need_the_identity_header(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recommendation_id = _market(database, "P008", _price(database, "P008") * Decimal("0.7"))
    monkeypatch.setenv("DASHBOARD_IDENTITY_HEADER", "X-Forwarded-Email")
    app = page("pricing", database, monkeypatch)
    assert not [t for t in app.text_input if t.key == "analyst"], "no typed names behind a proxy"
    app.selectbox(key="approve_choice").set_value(recommendation_id).run()
    assert "X-Forwarded-Email" in app.warning[0].value
    assert app.button(key="approve").disabled


def test_events_per_minute_show_a_quiet_minute_as_zero(database: str) -> None:
    from pricing_platform.dashboard.queries import throughput

    with psycopg.connect(database) as conn:
        conn.execute(
            "INSERT INTO ingest_throughput (stream, minute, events) VALUES "
            "('clickstream', date_trunc('minute', now()) - interval '5 minutes', 42)"
        )
        frame = throughput(conn, minutes=30)
    assert len(frame) == 30 * 3
    assert frame["minute"].nunique() == 30
    assert frame["events"].sum() == 42
    assert (frame.loc[frame["events"] == 42, "stream"] == "clickstream").all()
