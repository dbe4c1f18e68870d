"""The demand estimator on synthetic data with known elasticities: it recovers them, its intervals cover
them, it is not fooled by prices that follow competitors or the time of day, and it says so when prices
did not move enough to learn anything."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pricing_platform.core.settings import default_settings
from pricing_platform.pricing.demand import (
    CELL_COLUMNS,
    NOT_ENOUGH_VARIATION,
    DemandParams,
    Estimate,
    estimate,
)

PARAMS = DemandParams.from_settings(default_settings())
HOURS = 24 * 14


def cells(
    rng: np.random.Generator,
    slopes: dict[str, float],
    *,
    category: str = "phones",
    price_sd: float = 0.08,
    views_per_hour: float = 150.0,
    conversion: float = 0.04,
    competitor_effect: float = 0.0,
    price_follows_competitor: float = 0.0,
    price_follows_hour: float = 0.0,
    fixed_price: set[str] | frozenset[str] = frozenset(),
) -> dict[str, np.ndarray]:
    """Hourly cells for each product of `slopes` (its true elasticity at the reference price 100): the
    price moves at random (sd `price_sd`), optionally also with the competitors' price and the hour of
    day, and purchases ~ Poisson(views × conversion × exp(slope · (p/r − 1) + effects))."""
    rows: dict[str, list[object]] = {name: [] for name in CELL_COLUMNS}
    hour = np.arange(HOURS) % 24
    night = ((hour < 7) | (hour > 21)).astype(float)
    for pid, slope in slopes.items():
        competitor = 1 + 0.06 * rng.standard_normal(HOURS)  # relative to the reference price
        x = np.zeros(HOURS) if pid in fixed_price else price_sd * rng.standard_normal(HOURS)
        x = x + price_follows_competitor * (competitor - 1) - price_follows_hour * night
        price = np.round(100 * (1 + x), 2)
        # Shoppers convert less at night and more when competitors are dearer.
        log_rate = math.log(conversion) + slope * (price / 100 - 1) + competitor_effect * (competitor - 1)
        log_rate = log_rate - 0.3 * night
        views = rng.poisson(views_per_hour, HOURS)
        purchases = rng.poisson(views * np.exp(log_rate))
        rows["product_id"] += [pid] * HOURS
        rows["category"] += [category] * HOURS
        rows["reference_price"] += [100.0] * HOURS
        rows["price"] += price.tolist()
        rows["competitor_avg"] += (100 * competitor).tolist()
        rows["hour"] += hour.tolist()
        rows["views"] += views.tolist()
        rows["purchases"] += purchases.tolist()
    return {
        name: np.array(values, dtype=object if name in ("product_id", "category") else float)
        for name, values in rows.items()
    }


def merge(*parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]) for name in CELL_COLUMNS}


def by_subject(estimates: list[Estimate]) -> dict[str, Estimate]:
    return {e.subject: e for e in estimates}


def covers(e: Estimate, truth: float) -> bool:
    return e.ci_low <= truth <= e.ci_high


def test_recovers_known_category_and_product_elasticities() -> None:
    rng = np.random.default_rng(20261201)
    phones = {f"P{i}": -1.9 + 0.1 * (i - 2) for i in range(5)}
    accessories = {f"A{i}": -0.9 for i in range(5)}
    data = merge(
        cells(rng, phones, views_per_hour=600), cells(rng, accessories, category="acc", views_per_hour=600)
    )
    result = by_subject(estimate(data, PARAMS))
    for name, truth in (("phones", -1.9), ("acc", -0.9)):
        category = result[name]
        assert category.scope == "category" and category.source == "own"
        assert abs(category.elasticity / truth - 1) < 0.15, category
        assert covers(category, truth), category
    for pid, truth in {**phones, **accessories}.items():
        assert covers(result[pid], truth), result[pid]
        assert result[pid].source in ("own", "shrunk")
        assert result[pid].conversion == pytest.approx(0.04 * math.exp(-0.3 * 9 / 24), rel=0.1)


def test_interval_has_the_configured_level() -> None:
    rng = np.random.default_rng(7)
    e = by_subject(estimate(cells(rng, {"P0": -1.5, "P1": -1.5}), PARAMS))["phones"]
    z = 1.6448536  # two-sided 90 %
    assert e.ci_high - e.ci_low == pytest.approx(2 * z * e.std_error)
    wider = DemandParams.from_settings(default_settings().model_copy(update={"demand_ci_level": 0.99}))
    e99 = by_subject(estimate(cells(np.random.default_rng(7), {"P0": -1.5, "P1": -1.5}), wider))["phones"]
    assert e99.ci_high - e99.ci_low > e.ci_high - e.ci_low


def test_prices_that_follow_competitors_do_not_bias_the_estimate() -> None:
    # The engine cuts when competitors are cheap, exactly when shoppers buy less from us anyway: without
    # the competitor control the slope would absorb that and look flatter (or even positive).
    rng = np.random.default_rng(11)
    truth = -1.5
    data = cells(
        rng, {f"P{i}": truth for i in range(5)}, price_sd=0.03, competitor_effect=4.0,
        price_follows_competitor=1.0,
    )  # fmt: skip
    category = by_subject(estimate(data, PARAMS))["phones"]
    assert covers(category, truth), category
    assert category.competitor_effect == pytest.approx(4.0, rel=0.25)


def test_prices_that_follow_the_hour_of_day_do_not_bias_the_estimate() -> None:
    # Prices lowered at night, when fewer of the (fewer) visitors buy: conversion falls with the price.
    rng = np.random.default_rng(13)
    truth = -1.2
    data = cells(rng, {f"P{i}": truth for i in range(5)}, price_sd=0.03, price_follows_hour=0.08)
    assert covers(by_subject(estimate(data, PARAMS))["phones"], truth)


def test_without_price_variation_it_says_so_and_reports_the_prior() -> None:
    rng = np.random.default_rng(17)
    data = cells(rng, {"P0": -2.0, "P1": -2.0}, fixed_price={"P0", "P1"})
    result = by_subject(estimate(data, PARAMS))
    for subject in ("phones", "P0", "P1"):
        e = result[subject]
        assert e.source == "prior"
        assert e.elasticity == PARAMS.prior_elasticity
        assert e.std_error == PARAMS.prior_sd
        assert NOT_ENOUGH_VARIATION in e.note
    assert result["P0"].price_points == 1 and result["P0"].price_sd_pct == 0
    assert result["phones"].views == int(data["views"].sum())


def test_a_product_whose_price_never_moved_borrows_its_category() -> None:
    rng = np.random.default_rng(19)
    data = cells(rng, {"P0": -2.0, "P1": -2.0, "P2": -2.0, "P3": -0.5}, fixed_price={"P3"})
    result = by_subject(estimate(data, PARAMS))
    fixed = result["P3"]
    assert fixed.source == "category"
    assert NOT_ENOUGH_VARIATION in fixed.note
    assert fixed.elasticity == result["phones"].elasticity
    assert fixed.std_error >= result["phones"].std_error
    assert covers(result["phones"], -2.0), "the fixed product adds no slope evidence to the category"


def test_thin_evidence_is_pulled_towards_the_category() -> None:
    # Four well-measured products at −2 and one with little traffic whose own slope is noisy: its reported
    # estimate sits between its own slope and the category's, nearer the category's.
    rng = np.random.default_rng(23)
    strong = cells(rng, {f"P{i}": -2.0 for i in range(4)}, views_per_hour=400)
    thin = cells(rng, {"P9": -2.0}, views_per_hour=15)
    result = by_subject(estimate(merge(strong, thin), PARAMS))
    p9 = result["P9"]
    own = float(p9.note.split("own slope ")[1].split(" ")[0])
    category = result["phones"].elasticity
    assert min(own, category) <= p9.elasticity <= max(own, category)
    assert abs(p9.elasticity - category) <= abs(own - category)
    assert covers(p9, -2.0)


def test_a_product_without_purchases_gets_the_category_estimate() -> None:
    rng = np.random.default_rng(29)
    data = merge(cells(rng, {f"P{i}": -1.5 for i in range(3)}), cells(rng, {"P9": -1.5}, conversion=1e-9))
    result = by_subject(estimate(data, PARAMS))
    assert result["P9"].purchases == 0
    assert result["P9"].source == "category"
    assert "no purchases" in result["P9"].note
    assert result["P9"].elasticity == result["phones"].elasticity
