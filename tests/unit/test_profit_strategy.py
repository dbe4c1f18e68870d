"""The profit strategy on hand-made inputs: the optimum, every guardrail (max step, MAP bounds, price
ending, margin floor), stock cover both ways, the price-war guard, the profit-gain threshold, the cases it
must hold on, confidence and the reason text.

Reference product unless a test says otherwise: reference price 100, cost 60, elasticity −2, 100 views an
hour converting 5 % at the reference price, so q(p) = 5 · exp(−2 · (p / 100 − 1)) units an hour and the
profit-maximising price is p* = 60 + 100 / 2 = 110."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pricing_platform.pricing.profit import INPUT_COLUMNS, decide_profit
from pricing_platform.pricing.rules import PricingRules

NO_ENDING = PricingRules.defaults().model_copy(update={"price_ending": None, "overstock_days": 60.0})
# step 10 %, margin 5 %, ending .99, lead 72 h, gain 1 %; overstock at 60 days here
RULES = PricingRules.defaults().model_copy(update={"overstock_days": 60.0})


def product(current: float = 100.0, **overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "product_id": "P001",
        "current_price": current,
        "unit_cost": 60.0,
        "reference_price": 100.0,
        "competitor_avg": 100.0,
        "competitors_seen": 3,
        "velocity": 5,
        "min_price": math.nan,
        "max_price": math.nan,
        "stock": 1000.0,
        "views_per_hour": 100.0,
        "elasticity": -2.0,
        "elasticity_se": 0.2,
        "conversion": 0.05,
        "estimate_source": "own",
        "war_competitor": None,
    }
    values.update(overrides)
    return values


def decide_one(rules: PricingRules = NO_ENDING, **kwargs: object) -> dict[str, object]:
    row = product(**kwargs)  # type: ignore[arg-type]
    columns = {}
    for name in INPUT_COLUMNS:
        value = row[name]
        kind = object if name in ("product_id", "estimate_source", "war_competitor") else float
        columns[name] = np.array([value], dtype=kind)
    out = decide_profit(columns, rules)
    return {
        name: column[0].item() if hasattr(column[0], "item") else column[0] for name, column in out.items()
    }


def units(price: float) -> float:
    return 5 * math.exp(-2 * (price / 100 - 1))


def test_moves_to_the_profit_maximising_price() -> None:
    up = decide_one(current=100.0)
    assert (up["recommendation"], up["recommended_price"], up["guardrail"]) == ("raise", 110.0, None)
    assert up["optimum"] == 110.0
    down = decide_one(current=118.0)
    assert (down["recommendation"], down["recommended_price"], down["guardrail"]) == ("lower", 110.0, None)


def test_predicted_units_and_profit_at_both_prices_are_in_the_row_and_the_reason() -> None:
    d = decide_one(current=100.0)
    assert d["predicted_units_now"] == pytest.approx(units(100))
    assert d["predicted_units_new"] == pytest.approx(units(110))
    assert d["predicted_profit_now"] == pytest.approx(40 * units(100))
    assert d["predicted_profit_new"] == pytest.approx(50 * units(110))
    assert d["predicted_profit_new"] > d["predicted_profit_now"]
    reason = str(d["reason"])
    assert "elasticity -2.00 ± 0.20 (own)" in reason
    assert f"at 100.00 {units(100):.1f} units/h, profit {40 * units(100):,.0f}/h" in reason
    assert f"raise to 110.00: {units(110):.1f} units/h, profit {50 * units(110):,.0f}/h" in reason


def test_max_step_caps_the_move() -> None:
    d = decide_one(current=80.0)
    assert (d["recommendation"], d["recommended_price"], d["guardrail"]) == ("raise", 88.0, "max_step")
    assert "bound by max step 10 %" in str(d["reason"])


def test_price_ending_rounds_down() -> None:
    d = decide_one(RULES, current=100.0)
    assert (d["recommended_price"], d["guardrail"]) == (109.99, "price_ending")


def test_map_maximum_and_minimum_bound_the_price() -> None:
    capped = decide_one(current=100.0, max_price=105.0)
    assert (capped["recommendation"], capped["recommended_price"], capped["guardrail"]) == (
        "raise",
        105.0,
        "map_bounds",
    )
    floored = decide_one(current=120.0, min_price=115.0)
    assert (floored["recommendation"], floored["recommended_price"], floored["guardrail"]) == (
        "lower", 115.0, "map_bounds",
    )  # fmt: skip
    assert "minimum/maximum price" in str(floored["reason"])


def test_an_ending_never_takes_the_price_below_the_map_minimum() -> None:
    d = decide_one(RULES, current=120.0, min_price=115.5)
    assert d["recommended_price"] == 115.99
    assert d["guardrail"] == "map_bounds+price_ending"


def test_the_margin_floor_wins_over_the_optimum_and_a_map_maximum() -> None:
    wide = NO_ENDING.model_copy(update={"max_step_pct": 50.0, "min_margin_pct": 10.0})
    # elasticity −20: p* = 60 + 5 = 65, below the 10 % floor at 66
    d = decide_one(wide, current=80.0, elasticity=-20.0, stock=1e6)  # enough stock for ~5,000 units/h
    assert (d["recommendation"], d["recommended_price"], d["guardrail"]) == ("lower", 66.0, "min_margin")
    assert "held at the 10 % margin floor 66.00" in str(d["reason"])
    below_floor_map = decide_one(wide, current=80.0, max_price=50.0)
    assert (below_floor_map["recommended_price"], below_floor_map["guardrail"]) == (66.0, "min_margin")


def test_stock_that_would_not_last_the_lead_time_raises_the_price() -> None:
    # 100 units, 72 h lead time: at most 100/72 units an hour, i.e. p = 100 · (1 + ln((100/72) / 5) / −2)
    d = decide_one(current=150.0, stock=100.0)
    expected = round(100 * (1 + math.log((100 / 72) / 5) / -2), 2)
    assert d["recommendation"] == "raise"
    assert d["recommended_price"] == pytest.approx(expected, abs=0.01)
    assert d["guardrail"] == "stock_cover"
    assert "100 units in stock would not last the 72 h lead time" in str(d["reason"])
    assert d["predicted_units_new"] * 72 <= 100.01


def test_stock_beyond_the_overstock_horizon_is_marked_down() -> None:
    # 8,000 units over 60 days: 5.56 units an hour clears it, i.e. p ≈ 94.73 (the optimum is 110)
    d = decide_one(current=100.0, stock=8000.0)
    expected = round(100 * (1 + math.log((8000 / 1440) / 5) / -2), 2)
    assert (d["recommendation"], d["guardrail"]) == ("lower", "stock_cover")
    assert d["recommended_price"] == pytest.approx(expected, abs=0.01)
    assert "would last beyond 60 days" in str(d["reason"])


def test_a_stock_markdown_still_stops_at_the_margin_floor() -> None:
    d = decide_one(NO_ENDING.model_copy(update={"max_step_pct": 90.0}), current=100.0, stock=10_000_000.0)
    assert (d["recommendation"], d["recommended_price"]) == ("lower", 63.0)
    assert d["guardrail"] == "stock_cover+min_margin"


def test_price_war_guard_stops_cuts_but_not_raises() -> None:
    war = decide_one(current=118.0, war_competitor="TechMart")
    assert (war["recommendation"], war["recommended_price"], war["guardrail"]) == ("hold", 118.0, "price_war")
    assert "TechMart followed our last cut: not lowering" in str(war["reason"])
    raise_ = decide_one(current=100.0, war_competitor="TechMart")
    assert (raise_["recommendation"], raise_["recommended_price"], raise_["guardrail"]) == (
        "raise",
        110.0,
        None,
    )
    # Once the competitor raises again (no longer following), the guard lifts and the cut goes ahead.
    lifted = decide_one(current=118.0, war_competitor=None)
    assert lifted["recommendation"] == "lower"


def test_a_gain_below_the_threshold_is_held() -> None:
    d = decide_one(current=109.5)
    assert (d["recommendation"], d["recommended_price"]) == ("hold", 109.5)
    assert "gain below 1 %" in str(d["reason"])
    eager = decide_one(NO_ENDING.model_copy(update={"min_gain_pct": 0.0}), current=109.5)
    assert eager["recommendation"] == "raise"


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"stock": 0.0}, "out of stock in every warehouse"),
        ({"elasticity": 0.3}, "demand does not fall with price"),
        ({"conversion": math.nan}, "no recent views"),
        ({"views_per_hour": 0.0}, "no recent views"),
    ],
)
def test_holds_when_it_cannot_predict_or_sell(overrides: dict[str, object], why: str) -> None:
    d = decide_one(current=80.0, **overrides)
    assert (d["recommendation"], d["recommended_price"], d["guardrail"]) == ("hold", 80.0, None)
    assert why in str(d["reason"])


def test_confidence_reflects_the_estimates_uncertainty() -> None:
    assert decide_one(current=105.0, elasticity_se=0.5)["confidence"] == 0.75
    assert decide_one(current=105.0, elasticity=-1.5, elasticity_se=1.0, estimate_source="prior")[
        "confidence"
    ] == pytest.approx(0.333, abs=0.001)
    assert decide_one(current=105.0, elasticity_se=5.0)["confidence"] == 0.0
    assert decide_one(current=105.0, elasticity=0.5)["confidence"] == 0.0


def test_many_products_at_once_match_one_at_a_time() -> None:
    cases = [
        {"current": 100.0}, {"current": 80.0}, {"current": 118.0, "war_competitor": "TechMart"},
        {"current": 150.0, "stock": 100.0}, {"current": 100.0, "stock": 0.0},
        {"current": 100.0, "max_price": 105.0},
    ]  # fmt: skip
    rows = [product(**c) for c in cases]  # type: ignore[arg-type]
    columns = {
        name: np.array(
            [r[name] for r in rows],
            dtype=object if name in ("product_id", "estimate_source", "war_competitor") else float,
        )
        for name in INPUT_COLUMNS
    }
    together = decide_profit(columns, NO_ENDING)
    for i, case in enumerate(cases):
        alone = decide_one(**case)
        assert together["recommended_price"][i] == alone["recommended_price"]
        assert together["guardrail"][i] == alone["guardrail"]
        assert together["reason"][i] == alone["reason"]


def test_an_unknown_strategy_is_refused_with_the_known_ones() -> None:
    rules = PricingRules.defaults().model_copy(update={"strategies": {"phones": "greedy"}})
    assert rules.strategy_of("laptops") == "rules"
    with pytest.raises(
        ValueError, match=r"unknown pricing strategy 'greedy' for 'phones'; known: \('rules', 'profit'\)"
    ):
        rules.strategy_of("phones")
