"""Price experiments' pure parts: the balanced switchback schedule, the arms' guardrails and the analysis
(uplift and elasticity with bootstrap intervals) on data drawn from a known demand."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from pricing_platform.pricing.experiments import (
    ExperimentParams,
    ExperimentRefused,
    ProductPrice,
    analyse,
    arm_prices,
    first_block_start,
    harm_verdict,
    plan_schedule,
)
from pricing_platform.pricing.rules import PricingRules

RULES = PricingRules.defaults()
START = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)


def test_first_block_starts_at_the_next_boundary() -> None:
    assert first_block_start(datetime(2026, 12, 1, 13, 0, tzinfo=UTC), 60) == START
    assert first_block_start(datetime(2026, 12, 1, 12, 0, 1, tzinfo=UTC), 60) == START
    assert first_block_start(datetime(2026, 12, 1, 12, 31, tzinfo=UTC), 30) == START


def test_the_schedule_is_balanced_across_hours_of_the_day_and_random() -> None:
    blocks = plan_schedule(START, 4, 60, seed=7)
    assert len(blocks) == 4 * 24
    assert blocks[0].start == START and blocks[-1].end == START + timedelta(days=4)
    assert all(a.end == b.start for a, b in itertools.pairwise(blocks))  # no gap, no overlap
    by_hour = Counter((b.start.hour, b.arm) for b in blocks)
    assert all(by_hour[(h, "A")] == by_hour[(h, "B")] == 2 for h in range(24))
    # Each pair is one hour slot on two days, one block per arm.
    pairs: dict[int, list[tuple[int, str]]] = {}
    for b in blocks:
        pairs.setdefault(b.pair_no, []).append((b.start.hour, b.arm))
    assert all(len({h for h, _ in p}) == 1 and {a for _, a in p} == {"A", "B"} for p in pairs.values())
    # Randomised: another seed orders the arms differently, the same seed the same.
    assert [b.arm for b in plan_schedule(START, 4, 60, seed=8)] != [b.arm for b in blocks]
    assert [b.arm for b in plan_schedule(START, 4, 60, seed=7)] == [b.arm for b in blocks]


@pytest.mark.parametrize(
    ("days", "minutes", "message"), [(3, 60, "even number of days"), (2, 50, "tile a day")]
)
def test_a_schedule_that_cannot_be_balanced_is_refused(days: int, minutes: int, message: str) -> None:
    with pytest.raises(ExperimentRefused, match=message):
        plan_schedule(START, days, minutes, seed=1)


def _product(price: str = "100.00", cost: str = "60.00", **bounds: str) -> ProductPrice:
    return ProductPrice(
        "P1", "phones", Decimal(price), Decimal(cost),
        Decimal(bounds["min"]) if "min" in bounds else None,
        Decimal(bounds["max"]) if "max" in bounds else None,
    )  # fmt: skip


def test_arm_b_is_the_current_price_moved_and_taken_to_the_price_ending() -> None:
    rules = RULES.model_copy(update={"price_ending": 0.99, "max_step_pct": 10.0})
    (arm,) = arm_prices([_product("100.00")], 5.0, lambda _: rules)
    assert (arm.control_price, arm.test_price) == (Decimal("100.00"), Decimal("104.99"))


@pytest.mark.parametrize(
    ("product", "pct", "message"),
    [
        (_product(), 25.0, "above the max step"),
        (_product(cost="97.00"), -4.0, "margin floor"),
        (_product(max="102.00"), 5.0, "outside its price bounds"),
        (_product(), 0.0, "must change the price"),
    ],
)
def test_an_arm_outside_the_guardrails_is_refused_with_the_reason(
    product: ProductPrice, pct: float, message: str
) -> None:
    rules = RULES.model_copy(update={"price_ending": None, "max_step_pct": 10.0, "min_margin_pct": 0.0})
    with pytest.raises(ExperimentRefused, match=message):
        arm_prices([product], pct, lambda _: rules)


def _simulated_blocks(elasticity: float, price_ratio: float, seed: int, views_per_block: int = 400) -> list:
    """A switchback's blocks from a constant-elasticity demand with an hour-of-day traffic pattern."""
    rng = np.random.default_rng(seed)
    rows = []
    for pair in range(48):
        traffic = views_per_block * (0.3 + 1.4 * (pair % 24) / 24)
        for arm in ("A", "B"):
            price = 100.0 * (price_ratio if arm == "B" else 1.0)
            conversion = 0.03 * (price / 100.0) ** elasticity
            views = int(rng.poisson(traffic))
            units = int(rng.binomial(views, conversion))
            rows.append((arm, pair, views, units, units * price, units * (price - 60.0)))
    return rows


def test_the_analysis_recovers_a_known_elasticity_and_uplift_with_calibrated_intervals() -> None:
    ratio, elasticity = 1.08, -2.0
    true_profit_uplift = (ratio * 100 - 60) * ratio**elasticity / 40 - 1
    covered = Counter()
    for seed in range(40):
        a = analyse(_simulated_blocks(elasticity, ratio, seed), math.log(ratio), 0.9, 400, seed=seed)
        covered["elasticity"] += a.elasticity.covers(elasticity)
        covered["uplift"] += a.profit_uplift.covers(true_profit_uplift)
        assert a.complete_pairs == 48 and a.arms[0].blocks == a.arms[1].blocks == 48
    # 90 % intervals: about 36 of 40 cover; 31 is the 1-in-100 lower tail of a fair binomial.
    assert covered["elasticity"] >= 31 and covered["uplift"] >= 31, covered


def test_the_stopping_rule_stops_only_a_surely_harmful_arm_after_enough_pairs() -> None:
    params = ExperimentParams.model_validate(
        dict(block_minutes=60, days=6, arm_b_pct=5.0, harm_stop_pct=10.0, min_pairs=24, ci_level=0.9,
             bootstrap_samples=400)
    )  # fmt: skip
    harmful = analyse(_simulated_blocks(-6.0, 1.10, seed=1, views_per_block=2000), math.log(1.10), 0.9, 400)
    assert harmful.profit_uplift.high < -0.10
    assert "stopping rule" in (harm_verdict(harmful, params) or "")
    assert harm_verdict(harmful, params.model_copy(update={"min_pairs": 49})) is None
    mild = analyse(_simulated_blocks(-1.0, 1.05, seed=1), math.log(1.05), 0.9, 400)
    assert harm_verdict(mild, params) is None
