"""Decision rules, guardrails and confidence of the pricing engine, at their exact boundaries."""

from __future__ import annotations

import math

import pytest

from pricing_platform.pricing.engine import INPUT_COLUMNS, columns_from_rows, decide, row
from pricing_platform.pricing.rules import PricingRules

RULES = (
    PricingRules.defaults()
)  # lower > 10 % & velocity < 2; raise < −10 % & velocity ≥ 5; step 10 %; margin 5 %; .99
NO_ENDING = PricingRules.defaults().model_copy(update={"price_ending": None})


def product(
    current: float,
    avg: float | None,
    velocity: int = 0,
    *,
    cost: float = 10.0,
    seen: int = 3,
    below: int = 0,
    mean_age_s: float = 60.0,
    newest_age_s: float = 30.0,
) -> dict[str, object]:
    return {
        "product_id": "P001",
        "current_price": current,
        "unit_cost": cost,
        "competitor_avg": math.nan if avg is None else avg,
        "competitors_seen": seen if avg is not None else 0,
        "competitors_below": below,
        "mean_age_s": mean_age_s if avg is not None else math.nan,
        "newest_age_s": newest_age_s,
        "velocity": velocity,
    }


def table(products: list[dict[str, object]]) -> dict[str, object]:
    return columns_from_rows([[p[name] for name in INPUT_COLUMNS] for p in products])  # type: ignore[return-value]


def one(rules: PricingRules = RULES, **kwargs: object) -> dict[str, object]:
    return row(decide(table([product(**kwargs)]), rules), 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "avg", "velocity", "expected"),
    [
        (110.0, 100.0, 0, "hold"),  # gap exactly +10 %: not above the threshold
        (110.01, 100.0, 0, "lower"),  # just above
        (110.01, 100.0, 1, "lower"),
        (110.01, 100.0, 2, "hold"),  # velocity exactly 2: not below the limit
        (90.0, 100.0, 5, "hold"),  # gap exactly −10 %
        (89.99, 100.0, 5, "raise"),  # velocity exactly 5 is enough
        (89.99, 100.0, 4, "hold"),
        (100.0, 100.0, 50, "hold"),
    ],
)
def test_decision_boundaries(current: float, avg: float, velocity: int, expected: str) -> None:
    assert one(NO_ENDING, current=current, avg=avg, velocity=velocity)["recommendation"] == expected


def test_with_default_rules_every_move_is_bound_by_the_step() -> None:
    # 0.99 × avg vs a 10 % gap threshold: the target is always at least 10 % away, so the cap binds.
    lowered = one(NO_ENDING, current=105.0, avg=94.0)
    assert (lowered["recommendation"], lowered["recommended_price"]) == ("lower", 94.50)
    assert lowered["guardrail"] == "max_step"
    raised = one(NO_ENDING, current=90.0, avg=101.0, velocity=9)
    assert (raised["recommendation"], raised["recommended_price"]) == ("raise", 99.00)
    assert raised["guardrail"] == "max_step"


WIDE_STEP = PricingRules.defaults().model_copy(update={"price_ending": None, "max_step_pct": 20})
STEP_20 = PricingRules.defaults().model_copy(update={"max_step_pct": 20})


def test_target_is_99_percent_of_the_competitor_average() -> None:
    lowered = one(WIDE_STEP, current=100.0, avg=90.5)
    assert lowered["recommended_price"] == pytest.approx(89.60)  # 0.99 × 90.50 = 89.595 → 89.60
    assert lowered["guardrail"] is None
    raised = one(WIDE_STEP, current=100.0, avg=115.0, velocity=5)
    assert raised["recommended_price"] == pytest.approx(113.85)


def test_hold_keeps_the_current_price() -> None:
    held = one(current=100.0, avg=101.0, velocity=0)
    assert (held["recommendation"], held["recommended_price"], held["guardrail"]) == ("hold", 100.0, None)


def test_no_fresh_competitor_data_holds_with_zero_confidence() -> None:
    stale = one(current=100.0, avg=None, newest_age_s=8 * 3600)
    assert stale["recommendation"] == "hold"
    assert stale["confidence"] == 0.0
    assert stale["competitors_seen"] == 0
    assert math.isnan(stale["price_gap_pct"])  # type: ignore[arg-type]
    assert "no competitor price fresher than 6 h (newest is 8.0 h old)" in stale["reason"]  # type: ignore[operator]


def test_max_step_guardrail_is_recorded_in_the_reason() -> None:
    decided = one(NO_ENDING, current=100.0, avg=70.0)
    assert decided["recommended_price"] == pytest.approx(90.0)
    assert decided["guardrail"] == "max_step"
    assert decided["reason"].endswith("→ lower to 90.00, bound by max step 10 %")  # type: ignore[union-attr]


def test_price_ending_rounds_down_to_99_cents() -> None:
    decided = one(STEP_20, current=100.0, avg=90.5)  # target 89.60 → 88.99
    assert decided["recommended_price"] == pytest.approx(88.99)
    assert decided["guardrail"] == "price_ending"


def test_margin_floor_wins_over_the_target() -> None:
    # cost 85 → floor 89.25 → 89.99 with the ending; target 0.99 × 88 = 87.12 → 86.99
    decided = one(STEP_20, current=100.0, avg=88.0, cost=85.0)
    assert decided["recommendation"] == "lower"
    assert decided["recommended_price"] == pytest.approx(89.99)
    assert decided["guardrail"] == "min_margin"


def test_margin_floor_above_the_current_price_blocks_a_lower() -> None:
    decided = one(current=100.0, avg=80.0, cost=98.0)  # floor 102.99
    assert decided["recommendation"] == "hold"
    assert decided["recommended_price"] == 100.0
    assert decided["guardrail"] == "min_margin"
    assert "blocked by the 5 % margin floor at 102.99" in decided["reason"]  # type: ignore[operator]


def test_reason_names_competitors_gap_and_demand() -> None:
    decided = one(NO_ENDING, current=99.0, avg=85.0, below=2, seen=3)
    assert decided["reason"] == (
        "2 of 3 competitors below us; their average 85.00 is 16.5 % below our 99.00; "
        "0 purchases in the last hour → lower to 89.10, bound by max step 10 %"
    )


def test_confidence_grows_with_gap_coverage_and_freshness() -> None:
    base = one(current=115.0, avg=100.0)["confidence"]
    assert 0 < base <= 1  # type: ignore[operator]
    assert one(current=125.0, avg=100.0)["confidence"] > base  # type: ignore[operator]
    assert one(current=115.0, avg=100.0, seen=1)["confidence"] < base  # type: ignore[operator]
    assert one(current=115.0, avg=100.0, mean_age_s=3 * 3600)["confidence"] < base  # type: ignore[operator]
    # just past the threshold with full coverage and brand-new prices: half confidence
    assert one(current=110.01, avg=100.0, mean_age_s=0)["confidence"] == pytest.approx(0.5, abs=0.001)
    assert one(current=130.0, avg=100.0, mean_age_s=0)["confidence"] == 1.0


def test_vectorised_over_many_products() -> None:
    rows = [product(100.0 + i % 40, 100.0, velocity=i % 7, cost=50.0) for i in range(10_000)]
    decided = decide(table(rows), RULES)  # type: ignore[arg-type]
    assert len(decided["reason"]) == 10_000
    assert set(decided["recommendation"].tolist()) == {"lower", "hold"}
    assert ((decided["confidence"] >= 0) & (decided["confidence"] <= 1)).all()
