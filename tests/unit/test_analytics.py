"""The four analyses on small crafted inputs whose expected outputs are worked out by hand in comments."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from pricing_platform.analytics import elasticity, forecast, funnel, rfm

# --- funnel --------------------------------------------------------------------------------------------


def sessions_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=["session_id", "device_type", "events", "duration_s", "products_viewed", *funnel.STAGES],
    )


# (session, device, events, duration, products viewed, page_view, product_view, add_to_cart, purchase)
SESSIONS = sessions_frame(
    [
        ("S1", "desktop", 4, 180.0, 1, True, True, True, True),
        ("S2", "mobile", 2, 60.0, 0, True, False, False, False),
        ("S3", "mobile", 4, 180.0, 1, True, True, True, False),
        ("S4", "tablet", 3, 120.0, 2, False, True, False, True),  # bought without a recorded page view
        ("S5", "desktop", 2, 60.0, 1, True, True, False, False),
    ]
)
SESSION_CATEGORIES = pd.DataFrame(
    [
        ("S1", "laptops", True, True, True),
        ("S3", "phones", True, True, False),
        ("S4", "laptops", True, False, False),
        ("S4", "headphones", True, False, True),
        ("S5", "laptops", True, False, False),
    ],
    columns=["session_id", "category", "product_view", "add_to_cart", "purchase"],
)


def test_funnel_counts_sessions_per_stage_and_marks_the_steepest_drop() -> None:
    stages = funnel.funnel_stages(SESSIONS)
    # page_view S1 S2 S3 S5 · product_view S1 S3 S4 S5 · add_to_cart S1 S3 · purchase S1 S4
    assert stages["stage"].tolist() == list(funnel.STAGES)
    assert stages["sessions"].tolist() == [4, 4, 2, 2]
    assert stages["pct_of_first"].tolist() == [100.0, 100.0, 50.0, 50.0]
    assert stages["drop_off_pct"].tolist()[1:] == [0.0, 50.0, 0.0]
    assert pd.isna(stages["drop_off_pct"].iloc[0])
    assert stages["is_steepest_drop"].tolist() == [False, False, True, False]
    assert funnel.steepest_drop(stages) == "product_view → add_to_cart (50.0 %)"


def test_funnel_tie_goes_to_the_earliest_stage_and_an_empty_window_has_none() -> None:
    # 4 → 2 → 1 → 1: 50 % lost at product_view and at add_to_cart; the earlier one is reported.
    tie = sessions_frame(
        [
            ("A", "mobile", 1, 0.0, 0, True, True, True, True),
            ("B", "mobile", 1, 0.0, 0, True, True, False, False),
            ("C", "mobile", 1, 0.0, 0, True, False, False, False),
            ("D", "mobile", 1, 0.0, 0, True, False, False, False),
        ]
    )
    stages = funnel.funnel_stages(tie)
    assert stages["is_steepest_drop"].tolist() == [False, True, False, False]
    empty = funnel.funnel_stages(sessions_frame([]))
    assert empty["sessions"].tolist() == [0, 0, 0, 0]
    assert not empty["is_steepest_drop"].any() and empty["pct_of_first"].isna().all()
    assert funnel.steepest_drop(empty) is None


def test_funnel_breakdown_attributes_sessions_to_every_category_they_reached() -> None:
    table = funnel.funnel_breakdown(SESSIONS, SESSION_CATEGORIES)
    got = {
        (r.device_type, r.category): table[
            (table.device_type == r.device_type) & (table.category == r.category)
        ]
        for r in table.drop_duplicates(["device_type", "category"]).itertuples()
    }
    assert set(got) == {
        ("desktop", "laptops"),  # S1 and S5
        ("mobile", "phones"),  # S3
        ("mobile", "unattributed"),  # S2: product-less page views only
        ("tablet", "laptops"),  # S4 viewed a laptop ...
        ("tablet", "headphones"),  # ... and bought headphones
    }
    assert got[("desktop", "laptops")]["sessions"].tolist() == [2, 2, 1, 1]
    assert got[("desktop", "laptops")]["pct_of_first"].tolist() == [100.0, 100.0, 50.0, 50.0]
    assert got[("mobile", "phones")]["sessions"].tolist() == [1, 1, 1, 0]
    assert got[("mobile", "unattributed")]["sessions"].tolist() == [1, 0, 0, 0]
    assert got[("tablet", "headphones")]["sessions"].tolist() == [0, 1, 0, 1]
    assert got[("tablet", "headphones")]["pct_of_first"].isna().all(), "no page-view sessions to divide by"
    assert got[("tablet", "laptops")]["sessions"].tolist() == [0, 1, 0, 0]
    # Devices partition the sessions: summed over devices, unattributed + each category ≥ the whole.
    assert table[table.stage == "page_view"].groupby("device_type")["sessions"].sum().to_dict() == {
        "desktop": 2, "mobile": 2, "tablet": 0,
    }  # fmt: skip
    assert funnel.funnel_breakdown(sessions_frame([]), SESSION_CATEGORIES).empty


def test_session_profiles_compare_converted_with_non_converted_sessions() -> None:
    profiles = funnel.session_profiles(SESSIONS).set_index("converted")
    converted, other = profiles.loc[True], profiles.loc[False]
    # converted: S1 (4 events, 180 s, 1 product, desktop) and S4 (3, 120 s, 2, tablet)
    assert converted["sessions"] == 2
    assert (converted["avg_events_per_session"], converted["avg_duration_s"]) == (3.5, 150.0)
    assert converted["avg_products_viewed"] == 1.5
    assert converted["device_mix"] == {"desktop": 50.0, "tablet": 50.0}
    # not converted: S2 (2, 60, 0, mobile), S3 (4, 180, 1, mobile), S5 (2, 60, 1, desktop)
    assert other["sessions"] == 3
    assert other["avg_events_per_session"] == pytest.approx(8 / 3)
    assert other["avg_duration_s"] == 100.0
    assert other["avg_products_viewed"] == pytest.approx(2 / 3)
    assert other["device_mix"] == {"desktop": 33.33, "mobile": 66.67}
    only_buyers = funnel.session_profiles(SESSIONS[SESSIONS.purchase])
    assert only_buyers["converted"].tolist() == [True]


# --- elasticity ----------------------------------------------------------------------------------------

PRODUCTS = pd.DataFrame(
    [
        # gap (100 − 80) / 80 = +25 %: lower to 81
        ("P1", "Phone", "phones", 100.0, 80.0, 3, "lower", 81.0),
        # gap 0 %: hold
        ("P2", "Cable", "accessories", 50.0, 50.0, 3, "hold", 50.0),
        # no competitor data, no recommendation, no purchases
        ("P3", "Laptop", "laptops", 200.0, math.nan, 0, None, math.nan),
        # gap (90 − 100) / 100 = −10 %: raise to 99 (not simulated)
        ("P4", "Tablet", "tablets", 90.0, 100.0, 2, "raise", 99.0),
    ],
    columns=["product_id", "product_name", "category", "our_price", "competitor_avg_price",
             "competitors_seen", "recommendation", "recommended_price"],
)  # fmt: skip
QUANTITIES = pd.DataFrame({"product_id": ["P1", "P2", "P4"], "quantity": [10, 4, 3]})


def test_price_position_simulates_following_lower_recommendations() -> None:
    table = elasticity.price_position(PRODUCTS, QUANTITIES, elasticity=-1.5).set_index("product_id")
    assert table["price_gap_pct"].tolist()[:2] == [25.0, 0.0]
    assert math.isnan(table.loc["P3", "price_gap_pct"]) and table.loc["P4", "price_gap_pct"] == -10.0
    # right-closed bands: 0 % is in (−5, 0], −10 % in (−∞, −10]
    assert table["gap_bucket"].to_dict() == {
        "P1": "> 10 %", "P2": "-5 % to 0 %", "P3": "no competitor data", "P4": "≤ -10 %",
    }  # fmt: skip
    p1 = table.loc["P1"]
    # q1 = 10 × (81/100)^−1.5 = 10 / 0.729 = 13.7174; revenue 13.7174 × 81 = 1000 / 0.9 = 1111.11
    assert p1["base_quantity"] == 10 and p1["current_revenue"] == 1000.0
    assert p1["simulated_price"] == 81.0
    assert p1["simulated_quantity"] == pytest.approx(10 / 0.729)
    assert p1["simulated_revenue"] == pytest.approx(1000 / 0.9)
    assert p1["revenue_impact"] == pytest.approx(1000 / 0.9 - 1000)
    for other in ("P2", "P3", "P4"):  # not a `lower`: price and quantity unchanged
        row = table.loc[other]
        assert row["simulated_price"] == row["our_price"]
        assert row["simulated_revenue"] == row["current_revenue"] and row["revenue_impact"] == 0
    assert table.loc["P3", "base_quantity"] == 0 and table.loc["P4", "current_revenue"] == 270.0


def test_elasticity_setting_changes_the_simulated_quantity() -> None:
    # e = −2, price halved: quantity × 4, revenue × 2
    products = PRODUCTS.assign(recommended_price=[50.0, 50.0, math.nan, 99.0])
    p1 = elasticity.price_position(products, QUANTITIES, elasticity=-2.0).set_index("product_id").loc["P1"]
    assert p1["simulated_quantity"] == pytest.approx(40.0)
    assert p1["revenue_impact"] == pytest.approx(1000.0)


def test_learned_elasticities_replace_the_setting_where_there_are_some() -> None:
    # P1 learned −3 (q1 = 10 × 0.81^−3), P2 learned −0.5; P3 and P4 fall back to the setting −1.5.
    learned = PRODUCTS.assign(
        elasticity=[-3.0, -0.5, math.nan, math.nan], elasticity_source=["shrunk", "own", None, None]
    )
    table = elasticity.price_position(learned, QUANTITIES, elasticity=-1.5).set_index("product_id")
    assert table["elasticity"].tolist() == [-3.0, -0.5, -1.5, -1.5]
    assert table["elasticity_source"].tolist() == ["shrunk", "own", "setting", "setting"]
    assert table.loc["P1", "simulated_quantity"] == pytest.approx(10 * 0.81**-3)
    summary = elasticity.elasticity_summary(table.reset_index(), -1.5).set_index("recommendation")
    # each group's elasticity is its products' weighted by quantity base; no products: the setting
    assert summary.loc["lower", "elasticity"] == -3.0 and summary.loc["hold", "elasticity"] == -0.5
    assert summary.loc["none", "elasticity"] == -1.5  # P3: no purchases, its own (fallback) value


def test_elasticity_summary_splits_by_recommendation() -> None:
    position = elasticity.price_position(PRODUCTS, QUANTITIES, elasticity=-1.5)
    summary = elasticity.elasticity_summary(position, -1.5).set_index("recommendation")
    assert summary.index.tolist() == ["raise", "lower", "hold", "none"]
    assert summary["products"].tolist() == [1, 1, 1, 1]
    assert summary["base_quantity"].tolist() == [3, 10, 4, 0]
    assert summary.loc["lower", "revenue_impact"] == pytest.approx(111.111, abs=1e-3)
    assert summary.loc["raise", "revenue_impact"] == 0 and summary.loc["hold", "current_revenue"] == 200.0
    assert math.isnan(summary.loc["none", "avg_price_gap_pct"])
    assert (summary["elasticity"] == -1.5).all()
    empty = elasticity.elasticity_summary(position.iloc[0:0], -1.5)
    assert empty["products"].tolist() == [0, 0, 0, 0]


def test_competitor_landscape_indexes_competitor_prices_on_ours() -> None:
    seen = datetime(2026, 11, 26, 12, tzinfo=UTC)
    latest = pd.DataFrame(
        [
            ("TechMart", "P1", 90.0, seen, True),
            ("GadgetZone", "P1", 120.0, seen, False),
            ("TechMart", "P9", 10.0, seen, True),  # not a product of ours: dropped
        ],
        columns=["competitor_name", "product_id", "competitor_price", "observed_at", "is_fresh"],
    )
    table = elasticity.competitor_landscape(latest, PRODUCTS[["product_id", "our_price"]])
    assert table[["competitor_name", "product_id", "price_index", "is_fresh"]].values.tolist() == [
        ["GadgetZone", "P1", 120.0, False],
        ["TechMart", "P1", 90.0, True],
    ]


# --- RFM -----------------------------------------------------------------------------------------------

AS_OF = datetime(2026, 11, 26, 12, tzinfo=UTC)
# user: (days since last purchase, purchases, revenue). Ten buyers: score = ceil(rank / 2), two per score.
BUYERS = {
    "U01": (1, 9, 90.0),  # R5 F5 M5 → Champions
    "U02": (2, 1, 10.0),  # R5 F1 M1 → Potential Loyalists
    "U03": (3, 7, 30.0),  # R4 F4 M2 → Loyal Customers
    "U04": (4, 3, 70.0),  # R4 F2 M4 → Big Spenders
    "U05": (5, 4, 40.0),  # R3 F2 M2 → Needs Attention
    "U06": (6, 5, 50.0),  # R3 F3 M3 → Needs Attention
    "U07": (7, 8, 100.0),  # R2 F4 M5 → At Risk
    "U08": (8, 2, 20.0),  # R2 F1 M1 → Lost
    "U09": (9, 6, 60.0),  # R1 F3 M3 → At Risk
    "U10": (10, 10, 80.0),  # R1 F5 M4 → At Risk
}


def buyers_frame(buyers: dict[str, tuple[float, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(user, AS_OF - timedelta(days=days), freq, money) for user, (days, freq, money) in buyers.items()],
        columns=["user_id", "last_purchase_at", "frequency", "monetary"],
    )


def test_rfm_scores_quintiles_and_segments_every_buyer() -> None:
    customers = rfm.rfm_customers(buyers_frame(BUYERS), AS_OF).set_index("user_id")
    assert customers["recency_days"].tolist() == [float(d) for d, _, _ in BUYERS.values()]
    assert customers["rfm_score"].to_dict() == {
        "U01": "555", "U02": "511", "U03": "442", "U04": "424", "U05": "322",
        "U06": "333", "U07": "245", "U08": "211", "U09": "133", "U10": "154",
    }  # fmt: skip
    assert customers["segment"].to_dict() == {
        "U01": "Champions", "U02": "Potential Loyalists", "U03": "Loyal Customers", "U04": "Big Spenders",
        "U05": "Needs Attention", "U06": "Needs Attention", "U07": "At Risk", "U08": "Lost",
        "U09": "At Risk", "U10": "At Risk",
    }  # fmt: skip


def test_rfm_segments_sum_revenue_and_keep_empty_segments() -> None:
    segments = rfm.rfm_segments(rfm.rfm_customers(buyers_frame(BUYERS), AS_OF)).set_index("segment")
    assert segments.index.tolist() == list(rfm.SEGMENTS)
    assert segments["customers"].to_dict() == {
        "Champions": 1, "Loyal Customers": 1, "Big Spenders": 1, "Potential Loyalists": 1, "At Risk": 3,
        "Lost": 1, "Needs Attention": 2,
    }  # fmt: skip
    at_risk = segments.loc["At Risk"]
    # U07 100 + U09 60 + U10 80 = 240 of 550
    assert at_risk["revenue"] == 240.0 and at_risk["revenue_share_pct"] == pytest.approx(240 / 550 * 100)
    assert at_risk["customer_share_pct"] == 30.0
    assert at_risk["avg_recency_days"] == pytest.approx(26 / 3) and at_risk["avg_frequency"] == 8.0
    one = rfm.rfm_segments(rfm.rfm_customers(buyers_frame({"U1": (1, 1, 5.0)}), AS_OF)).set_index("segment")
    assert one.loc["Lost", "customers"] == 0 and math.isnan(one.loc["Lost", "avg_monetary"])


def test_rfm_scores_ties_and_few_buyers_deterministically() -> None:
    # A single buyer ranks n = 1 of 1: top scores.
    [single] = rfm.rfm_customers(buyers_frame({"U1": (3, 1, 5.0)}), AS_OF).to_dict("records")
    assert (single["rfm_score"], single["segment"]) == ("555", "Champions")
    # Three buyers with one purchase each share the average rank 2: ceil(2 × 5 / 3) = 4.
    tied = rfm.rfm_customers(buyers_frame({"A": (1, 1, 10.0), "B": (2, 1, 20.0), "C": (3, 1, 30.0)}), AS_OF)
    assert tied["f_score"].tolist() == [4, 4, 4]
    # Two buyers: ranks 1 and 2 → ceil(2.5) = 3 and 5; the more recent one gets R 5.
    pair = rfm.rfm_customers(buyers_frame({"A": (1, 2, 10.0), "B": (5, 1, 20.0)}), AS_OF).set_index("user_id")
    assert pair["rfm_score"].to_dict() == {"A": "553", "B": "335"}
    # Row order does not change scores.
    shuffled = rfm.rfm_customers(buyers_frame(BUYERS).iloc[::-1], AS_OF)
    assert shuffled.equals(rfm.rfm_customers(buyers_frame(BUYERS), AS_OF))
    assert rfm.rfm_customers(buyers_frame({}), AS_OF).empty


# --- demand --------------------------------------------------------------------------------------------

THU = datetime(2026, 11, 26, tzinfo=UTC)  # a Thursday: ISO day 4
HOURLY_COUNTS = pd.DataFrame(
    [
        ("laptops", THU.replace(hour=10), 3),
        ("phones", THU.replace(hour=11), 3),
        ("laptops", THU.replace(hour=12), 6),
        ("laptops", THU.replace(hour=13), 50),  # the current, unfinished hour: left out
    ],
    columns=["category", "hour", "purchases"],
)


def test_hourly_demand_fills_empty_hours_and_moves_averages() -> None:
    hourly = forecast.hourly_demand(HOURLY_COUNTS, ["laptops", "phones", "tablets"], THU.replace(hour=13))
    by_category = {c: g for c, g in hourly.groupby("category")}
    assert set(by_category) == {"laptops", "phones", "tablets"}
    laptops = by_category["laptops"]
    assert [h.hour for h in laptops["hour"]] == [10, 11, 12]
    assert laptops["purchases"].tolist() == [3, 0, 6]
    assert laptops["ma_1h"].tolist() == [3.0, 0.0, 6.0]
    assert laptops["ma_3h"].tolist() == [3.0, 1.5, 3.0]  # 3/1, (3+0)/2, (3+0+6)/3
    assert by_category["phones"]["ma_3h"].tolist() == [0.0, 1.5, 1.0]
    assert by_category["tablets"]["purchases"].tolist() == [0, 0, 0]
    assert forecast.hourly_demand(HOURLY_COUNTS.iloc[0:0], ["laptops"], THU).empty


def test_demand_heatmap_covers_every_weekday_hour() -> None:
    hourly = forecast.hourly_demand(HOURLY_COUNTS, ["laptops", "phones"], THU.replace(hour=13))
    heatmap = forecast.demand_heatmap(hourly)
    assert len(heatmap) == 7 * 24
    cells = heatmap.set_index(["day_of_week", "hour_of_day"])["purchases"]
    assert (cells[(4, 10)], cells[(4, 11)], cells[(4, 12)]) == (3, 3, 6)
    assert cells.sum() == 12


def test_holt_forecast_by_hand() -> None:
    # decay 0.5 → α = β = 0.5 on [0, 10, 10]:
    # l1 = .5·10 + .5·(0 + 0) = 5,     b1 = .5·(5 − 0) + .5·0 = 2.5
    # l2 = .5·10 + .5·(5 + 2.5) = 8.75, b2 = .5·(8.75 − 5) + .5·2.5 = 3.125
    fit = forecast.holt_forecast([0, 10, 10], decay=0.5)
    assert (fit.level, fit.trend) == (8.75, 3.125)
    assert fit.forecasts == (11.875, 15.0, 18.125, 21.25, 24.375, 27.5)
    # the default decay 0.85 → α = 0.15 on [0, 2]: l1 = 0.3, b1 = 0.15 · 0.3 = 0.045; 6 h ahead 0.57
    default = forecast.holt_forecast([0, 2], decay=0.85)
    assert default.level == pytest.approx(0.3) and default.trend == pytest.approx(0.045)
    assert default.forecasts[-1] == pytest.approx(0.57)
    # a falling series is never forecast below zero: l1 = 5, b1 = −2.5
    assert forecast.holt_forecast([10, 0], decay=0.5).forecasts[:3] == (2.5, 0.0, 0.0)
    assert forecast.holt_forecast([4, 4, 4], decay=0.85).forecasts == (4.0,) * 6
    with pytest.raises(ValueError, match="decay"):
        forecast.holt_forecast([1, 2], decay=1.0)


def test_demand_forecast_per_category_starts_after_the_last_complete_hour() -> None:
    hourly = forecast.hourly_demand(HOURLY_COUNTS, ["laptops"], THU.replace(hour=13))
    table = forecast.demand_forecast(hourly, decay=0.5)
    laptops = table[table.category == "laptops"]
    # [3, 0, 6]: l1 = 1.5, b1 = −0.75; l2 = 3 + .5·0.75 = 3.375, b2 = .5·1.875 + .5·(−0.75) = 0.5625
    assert laptops["horizon_h"].tolist() == [1, 2, 3, 4, 5, 6]
    assert laptops["forecast_hour"].iloc[0] == pd.Timestamp(THU.replace(hour=13))
    assert laptops["forecast_purchases"].tolist() == pytest.approx([3.9375, 4.5, 5.0625, 5.625, 6.1875, 6.75])
    assert (laptops["level"] == 3.375).all() and (laptops["trend"] == 0.5625).all()
    assert set(table["category"]) == {"laptops", "phones"}


def test_stockout_risk_flags_by_hours_left() -> None:
    stock = pd.DataFrame(
        [
            ("A", 10, 24),  # 1 unit/h → 10 h: Critical
            ("B", 48, 24),  # 48 h: Warning
            ("C", 100, 24),  # 100 h: OK
            ("D", 0, 0),  # out of stock: 0 h, Critical
            ("E", 50, 0),  # no sales: no estimate, OK
            ("F", 24, 24),  # exactly 24 h: not below the critical threshold
        ],
        columns=["product_id", "total_stock", "units_sold_window"],
    ).assign(product_name="x", category="y")
    table = forecast.stockout_risk(stock, window_h=24, critical_h=24, warning_h=72).set_index("product_id")
    assert table["risk"].to_dict() == {
        "A": "Critical", "B": "Warning", "C": "OK", "D": "Critical", "E": "OK", "F": "Warning",
    }  # fmt: skip
    assert table["hours_until_stockout"].tolist()[:4] == [10.0, 48.0, 100.0, 0.0]
    assert math.isnan(table.loc["E", "hours_until_stockout"])
    assert table.loc["A", "hourly_velocity"] == 1.0
    # a 12-hour window doubles the velocity: A lasts 5 h
    assert (
        forecast.stockout_risk(stock, 12, 24, 72).set_index("product_id").loc["A", "hours_until_stockout"]
        == 5
    )
    with pytest.raises(ValueError, match="critical"):
        forecast.stockout_risk(stock, 24, critical_h=80, warning_h=72)
