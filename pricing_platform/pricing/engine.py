"""Pricing decisions for many products at once (numpy, no per-product Python in the arithmetic).

Inputs, one row per product that has competitor observations:
    product_id, current_price, unit_cost, competitor_avg (NaN when no fresh observation),
    competitors_seen (fresh ones), competitors_below (fresh ones priced below us), mean_age_s (of the
    fresh observations), newest_age_s (of any observation, fresh or stale), velocity (purchases in the last
    hour by event time).

Rule (gap = (ours − avg) / avg × 100):
    lower  when gap >  lower_gap_pct and velocity <  lower_max_velocity
    raise  when gap < −raise_gap_pct and velocity ≥ raise_min_velocity
    hold   otherwise, and whenever there is no fresh competitor price.
Target: target_factor × avg for raise/lower, the current price for hold.

Guardrails, in this order, each recorded when it changed the price:
    max_step     the move is capped at ±max_step_pct of the current price;
    price_ending the price is taken down to the nearest ending (e.g. .99) not above it;
    min_margin   never below unit_cost × (1 + min_margin_pct), rounded up to the next ending — this floor
                 wins over the step cap, because selling below it loses money on every unit.
If the guardrails leave a raise/lower pointing the other way or nowhere (the margin floor at or above the
current price on a lower), the decision becomes hold, recorded as bound by min_margin.

Confidence, in [0, 1] = strength × coverage × freshness:
    strength  raise/lower: min(1, |gap| / (2 × threshold)), so 0.5 just past the threshold and 1 at twice it;
              hold inside the band: 1 − |gap| / (2 × threshold), so 1 at parity, 0.5 at the edge;
              hold outside the band (demand did not confirm): 0.5 × min(1, threshold / |gap|);
    coverage  fresh competitors seen / competitors tracked;
    freshness 1 − mean age of the fresh observations / staleness limit.
No fresh competitor price: confidence 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pricing_platform.pricing.rules import PricingRules

INPUT_COLUMNS = (
    "product_id",
    "current_price",
    "unit_cost",
    "competitor_avg",
    "competitors_seen",
    "competitors_below",
    "mean_age_s",
    "newest_age_s",
    "velocity",
)
OUTPUT_COLUMNS = (
    "product_id",
    "current_price",
    "competitor_avg_price",
    "competitors_seen",
    "price_gap_pct",
    "demand_velocity",
    "recommendation",
    "recommended_price",
    "confidence",
    "guardrail",
    "reason",
)


def _round_cents(values: np.ndarray) -> np.ndarray:
    # half-up on cents, with a nudge against binary representation (x.xx5 stored as x.xx4999…)
    return np.floor(values * 100 + 0.5 + 1e-9) / 100


def _down_to_ending(values: np.ndarray, ending: float) -> np.ndarray:
    return np.floor(values - ending + 1e-9) + ending


def _up_to_ending(values: np.ndarray, ending: float) -> np.ndarray:
    return np.ceil(values - ending - 1e-9) + ending


def decide(inputs: pd.DataFrame, rules: PricingRules) -> pd.DataFrame:
    """One recommendation per input row; see the module docstring for the rules."""
    current = inputs["current_price"].to_numpy(dtype=float)
    cost = inputs["unit_cost"].to_numpy(dtype=float)
    avg = inputs["competitor_avg"].to_numpy(dtype=float)
    seen = inputs["competitors_seen"].to_numpy(dtype=int)
    velocity = inputs["velocity"].to_numpy(dtype=int)
    mean_age = inputs["mean_age_s"].to_numpy(dtype=float)
    has_market = (seen > 0) & np.isfinite(avg) & (avg > 0)
    safe_avg = np.where(has_market, avg, 1.0)
    gap = np.where(has_market, np.round((current - safe_avg) / safe_avg * 100, 6), np.nan)

    lower = has_market & (gap > rules.lower_gap_pct) & (velocity < rules.lower_max_velocity)
    raise_ = has_market & (gap < -rules.raise_gap_pct) & (velocity >= rules.raise_min_velocity)
    moving = lower | raise_
    target = np.where(moving, _round_cents(rules.target_factor * safe_avg), current)

    step = rules.max_step_pct / 100
    low_bound, high_bound = _round_cents(current * (1 - step)), _round_cents(current * (1 + step))
    capped = np.clip(target, low_bound, high_bound)
    hit_step = moving & (capped != target)
    price = capped
    hit_ending = np.zeros(len(price), dtype=bool)
    if rules.price_ending is not None:
        ended = _round_cents(_down_to_ending(price, rules.price_ending))
        hit_ending = moving & (np.abs(ended - price) > 0.001)
        price = np.where(moving, ended, price)
    floor = _round_cents(np.ceil(cost * (1 + rules.min_margin_pct / 100) * 100 - 1e-6) / 100)
    if rules.price_ending is not None:
        floor = _round_cents(_up_to_ending(floor, rules.price_ending))
    hit_margin = moving & (price < floor)
    price = np.where(hit_margin, floor, price)

    # A guardrail may turn the move around (e.g. the margin floor above the current price on a lower).
    reversed_ = (lower & (price >= current)) | (raise_ & (price <= current))
    lower &= ~reversed_
    raise_ &= ~reversed_
    moving = lower | raise_
    price = np.where(moving, price, current)

    strength = _strength(gap, lower | raise_, rules)
    coverage = np.minimum(seen / rules.competitors_tracked, 1.0)
    freshness = np.clip(1 - np.nan_to_num(mean_age, nan=rules.staleness_s) / rules.staleness_s, 0, 1)
    confidence = np.where(has_market, np.round(strength * coverage * freshness, 3), 0.0)

    # When the margin floor sets the price (or blocks the move) it alone explains it; the step cap and the
    # ending it overrode do not matter.
    by_floor = hit_margin | reversed_
    guardrail = _guardrail_labels(hit_step & ~by_floor, hit_ending & ~by_floor, by_floor)
    recommendation = np.where(lower, "lower", np.where(raise_, "raise", "hold"))
    out = pd.DataFrame(
        {
            "product_id": inputs["product_id"].to_numpy(),
            "current_price": current,
            "competitor_avg_price": np.where(has_market, _round_cents(safe_avg), np.nan),
            "competitors_seen": seen,
            "price_gap_pct": np.round(gap, 2),
            "demand_velocity": velocity,
            "recommendation": recommendation,
            "recommended_price": _round_cents(price),
            "confidence": confidence,
            "guardrail": guardrail,
            "margin_floor": floor,
        }
    )
    out["reason"] = _reasons(out, inputs, rules)
    return out


def _strength(gap: np.ndarray, moving: np.ndarray, rules: PricingRules) -> np.ndarray:
    abs_gap = np.abs(np.nan_to_num(gap))
    threshold = np.where(np.nan_to_num(gap) > 0, rules.lower_gap_pct, rules.raise_gap_pct)
    move_strength = np.minimum(1.0, abs_gap / (2 * threshold))
    inside = abs_gap <= threshold
    hold_strength = np.where(
        inside, 1 - abs_gap / (2 * threshold), 0.5 * np.minimum(1.0, threshold / np.maximum(abs_gap, 1e-9))
    )
    return np.where(moving, move_strength, hold_strength)


def _guardrail_labels(*flags: np.ndarray) -> np.ndarray:
    names = ("max_step", "price_ending", "min_margin")
    labels = np.full(len(flags[0]), "", dtype=object)
    for name, flag in zip(names, flags, strict=True):
        labels = np.where(flag, np.where(labels == "", name, labels + "+" + name), labels)
    return np.where(labels == "", None, labels)


_GUARDRAIL_TEXT = {
    "max_step": "bound by max step {step:g} %",
    "price_ending": "rounded to a .{cents:02d} ending",
    "min_margin": "held at the {margin:g} % margin floor",
}


def _reasons(out: pd.DataFrame, inputs: pd.DataFrame, rules: PricingRules) -> list[str]:
    """One sentence per product, e.g. "2 of 3 competitors below us; their average 85.00 is 14.9 % below our
    99.99; 0 purchases in the last hour → lower to 89.99, bound by max step 10 %"."""
    staleness_h = rules.staleness_s / 3600
    cents = round((rules.price_ending or 0) * 100)
    reasons = []
    for row, below, newest_age in zip(
        out.itertuples(index=False),
        inputs["competitors_below"].to_numpy(dtype=int),
        inputs["newest_age_s"].to_numpy(dtype=float),
        strict=True,
    ):
        if row.competitors_seen == 0:
            reasons.append(
                f"no competitor price fresher than {staleness_h:g} h "
                f"(newest is {newest_age / 3600:.1f} h old) → hold at {row.current_price:.2f}"
            )
            continue
        avg_side = "below" if row.price_gap_pct > 0 else "above"
        market = (
            f"{below} of {row.competitors_seen} competitors below us; their average "
            f"{row.competitor_avg_price:.2f} is {abs(row.price_gap_pct):.1f} % {avg_side} "
            f"our {row.current_price:.2f}"
        )
        demand = f"{row.demand_velocity} purchase{'s' if row.demand_velocity != 1 else ''} in the last hour"
        guardrail = row.guardrail if isinstance(row.guardrail, str) else ""
        if row.recommendation == "hold" and guardrail == "min_margin":
            reasons.append(
                f"{market}; {demand} → hold at {row.current_price:.2f}: a move is blocked by the "
                f"{rules.min_margin_pct:g} % margin floor at {row.margin_floor:.2f}"
            )
            continue
        if row.recommendation == "hold":
            action = f"hold at {row.current_price:.2f}"
        else:
            action = f"{row.recommendation} to {row.recommended_price:.2f}"
        if guardrail:
            action += ", " + ", ".join(
                _GUARDRAIL_TEXT[g].format(step=rules.max_step_pct, cents=cents, margin=rules.min_margin_pct)
                for g in guardrail.split("+")
            )
        reasons.append(f"{market}; {demand} → {action}")
    return reasons
