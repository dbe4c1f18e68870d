"""Per-category policy on hand-made inputs: which rules price a category, the stored inputs' round trip, and
the what-if preview against the decisions the cycle's code makes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
from pydantic import ValidationError

from pricing_platform.pricing import cycle_inputs
from pricing_platform.pricing.cycle import decide_all
from pricing_platform.pricing.policy import category_rules, rules_by_category
from pricing_platform.pricing.rules import PricingRules
from pricing_platform.pricing.whatif import preview

ENV = PricingRules.defaults().model_copy(update={"strategies": {"laptops": "profit"}})


def _inputs() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """P1 (phones) sits 15 % above the competitors with no sales: rules lowers it by the 10 % step. P2
    (laptops) has known demand (−2 at 5 % conversion, 100 views/h) and an optimum well above its price."""
    inputs = {
        "product_id": np.array(["P1", "P2"], dtype=object),
        "current_price": np.array([115.0, 899.99]),
        "unit_cost": np.array([60.0, 719.99]),
        "competitor_avg": np.array([100.0, 899.99]),
        "competitors_seen": np.array([3, 3]),
        "competitors_below": np.array([3, 0]),
        "mean_age_s": np.array([60.0, 60.0]),
        "newest_age_s": np.array([60.0, 60.0]),
        "velocity": np.array([0, 5]),
        "category": np.array(["phones", "laptops"], dtype=object),
    }
    profit = {
        "product_id": np.array(["P1", "P2"], dtype=object),
        "reference_price": np.array([115.0, 899.99]),
        "min_price": np.array([np.nan, np.nan]),
        "max_price": np.array([np.nan, np.nan]),
        "stock": np.array([500.0, 500.0]),
        "views_per_hour": np.array([0.0, 100.0]),
        "purchases_per_hour": np.array([0.0, 5.0]),
        "elasticity": np.array([-1.5, -2.0]),
        "elasticity_se": np.array([1.0, 0.2]),
        "conversion": np.array([np.nan, 0.05]),
        "estimate_source": np.array(["prior", "own"], dtype=object),
        "war_competitor": np.array([None, None], dtype=object),
    }
    return inputs, profit


def _stored(overrides: dict[str, dict[str, object]]) -> cycle_inputs.CycleInputs:
    inputs, profit = _inputs()
    document = cycle_inputs.to_json(ENV, overrides, inputs, profit)
    return cycle_inputs.from_document(uuid.uuid4(), datetime.now(UTC), json.loads(document))


def test_a_stored_policy_wins_over_the_environment_per_category_and_its_default() -> None:
    assert category_rules(ENV, "laptops", {}).strategy == "profit"  # PRICING_STRATEGIES
    assert category_rules(ENV, "phones", {}).strategy == "rules"  # PRICING_STRATEGY
    stored = {"laptops": {"strategy": "rules", "max_step_pct": 5.0}}
    laptops = category_rules(ENV, "laptops", stored)
    assert (laptops.strategy, laptops.max_step_pct, laptops.strategy_of("laptops")) == ("rules", 5.0, "rules")
    assert category_rules(ENV, "phones", stored).max_step_pct == ENV.max_step_pct


def test_unknown_settings_and_strategies_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown settings \\['colour'\\] for 'phones'"):
        category_rules(ENV, "phones", {"phones": {"colour": "red"}})
    with pytest.raises(ValueError, match="unknown pricing strategy 'guess' for 'phones'; known"):
        category_rules(ENV, "phones", {"phones": {"strategy": "guess"}})
    with pytest.raises(ValidationError):
        category_rules(ENV, "phones", {"phones": {"max_step_pct": "a lot"}})


def test_each_category_is_decided_by_its_own_rules_in_the_input_order() -> None:
    inputs, profit = _inputs()
    decided = decide_all(inputs, profit, rules_by_category(ENV, {"phones": {"max_step_pct": 5.0}}))
    assert decided["product_id"].tolist() == ["P1", "P2"]
    assert decided["strategy"].tolist() == ["rules", "profit"]
    assert decided["recommendation"].tolist() == ["lower", "raise"]
    assert decided["recommended_price"][0] == pytest.approx(108.99)  # 115 − 5 % = 109.25, down to .99
    default = decide_all(inputs, profit, rules_by_category(ENV, {}))
    assert default["recommended_price"][0] == pytest.approx(102.99)  # 115 − 10 % = 103.50, down to .99


def test_stored_inputs_come_back_as_they_were_nan_and_none_included() -> None:
    inputs, _ = _inputs()
    stored = _stored({"phones": {"max_step_pct": 5.0}})
    assert stored.rules == PricingRules(**{n: getattr(ENV, n) for n in PricingRules.model_fields})
    assert stored.overrides == {"phones": {"max_step_pct": 5.0}}
    for name, column in inputs.items():
        assert stored.inputs[name].tolist() == column.tolist(), name
    assert np.isnan(stored.profit_inputs["conversion"][0]) and stored.profit_inputs["conversion"][1] == 0.05
    assert stored.profit_inputs["war_competitor"].tolist() == [None, None]


def test_a_document_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match="stored in format 0, this code reads 2"):
        cycle_inputs.from_document(uuid.uuid4(), datetime.now(UTC), {"version": 0})


def test_the_preview_shows_only_what_the_edit_changes_with_its_predicted_profit() -> None:
    stored = _stored({})
    assert preview(stored, "phones", {}).changes == []
    to_profit = preview(stored, "laptops", {"strategy": "rules"})
    # Under rules, P2 at parity with its competitors holds; profit raised it by the 10 % step.
    [change] = to_profit.changes
    assert (change.product_id, change.recommendation_before, change.recommendation_after) == (
        "P2", "raise", "hold",
    )  # fmt: skip
    assert change.price_after == pytest.approx(899.99)
    # q(p) = 100 × 0.05 × exp(−2 (p / 899.99 − 1)); profit = (p − 719.99) q(p)
    expected_units = 5.0 * np.exp(-2 * (change.price_before / 899.99 - 1))
    assert change.units_before == pytest.approx(expected_units)
    assert change.profit_before == pytest.approx((change.price_before - 719.99) * expected_units)
    assert change.profit_after == pytest.approx(180.0 * 5.0)
    assert to_profit.profit_after - to_profit.profit_before == pytest.approx(
        change.profit_after - change.profit_before
    )
    # A product without demand evidence predicts no units rather than a guess.
    step = preview(stored, "phones", {"max_step_pct": 5.0})
    assert [c.product_id for c in step.changes] == ["P1"] and step.changes[0].units_after == 0.0
    with pytest.raises(ValueError, match="unknown policy settings"):
        preview(stored, "phones", {"colour": "red"})


def test_the_preview_compares_against_the_policy_saved_now_not_the_one_stored_with_the_inputs() -> None:
    stored = _stored({})  # the inputs were stored before phones' step was saved at 5
    saved_since = {"phones": {"max_step_pct": 5.0}}
    # Back to 10 is a change against what is saved now (the stored copy alone would call it none).
    [back] = preview(stored, "phones", {"max_step_pct": 10.0}, saved=saved_since).changes
    assert (back.price_before, back.price_after) == (pytest.approx(108.99), pytest.approx(102.99))
    assert preview(stored, "phones", {"max_step_pct": 10.0}).changes == []
