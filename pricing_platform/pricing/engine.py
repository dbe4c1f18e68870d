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

from collections.abc import Mapping, Sequence

import numpy as np

from pricing_platform.core.decisions import GUARDRAILS
from pricing_platform.pricing.rules import PricingRules

# A table as named, equally long columns: numpy only, because pandas alone adds ~1.4 s of imports to every
# scheduled run, longer than the cycle itself.
Columns = Mapping[str, np.ndarray]

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


def round_cents(values: np.ndarray) -> np.ndarray:
    # half-up on cents, with a nudge against binary representation (x.xx5 stored as x.xx4999…)
    return np.floor(values * 100 + 0.5 + 1e-9) / 100


def down_to_ending(values: np.ndarray, ending: float) -> np.ndarray:
    return np.floor(values - ending + 1e-9) + ending


def up_to_ending(values: np.ndarray, ending: float) -> np.ndarray:
    return np.ceil(values - ending - 1e-9) + ending


TEXT_COLUMNS = frozenset({"product_id", "category", "estimate_source", "war_competitor"})


def columns_from_rows(
    rows: Sequence[Sequence[object]], names: Sequence[str] = INPUT_COLUMNS
) -> dict[str, np.ndarray]:
    """Input rows (in `names` order, None for SQL NULL) → typed columns (text ones as objects, None kept)."""
    by_column = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    columns: dict[str, np.ndarray] = {}
    for name, values in zip(names, by_column, strict=True):
        if name in TEXT_COLUMNS:
            columns[name] = np.array(values, dtype=object)
        elif name in ("competitors_seen", "competitors_below", "velocity"):
            columns[name] = np.array([v or 0 for v in values], dtype=np.int64)
        else:
            columns[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
    return columns


def python_values(column: np.ndarray) -> list[object]:
    """A column as Python values, NaN as None (SQL NULL, JSON null): the inverse of `columns_from_rows`."""
    values = column.tolist()
    if column.dtype.kind == "f" and np.isnan(column).any():
        return [None if v != v else v for v in values]  # v != v: NaN
    return values


def decide(inputs: Columns, rules: PricingRules) -> dict[str, np.ndarray]:
    """One recommendation per input row; see the module docstring for the rules."""
    current = np.asarray(inputs["current_price"], dtype=float)
    cost = np.asarray(inputs["unit_cost"], dtype=float)
    avg = np.asarray(inputs["competitor_avg"], dtype=float)
    seen = np.asarray(inputs["competitors_seen"], dtype=np.int64)
    velocity = np.asarray(inputs["velocity"], dtype=np.int64)
    mean_age = np.asarray(inputs["mean_age_s"], dtype=float)
    has_market = (seen > 0) & np.isfinite(avg) & (avg > 0)
    safe_avg = np.where(has_market, avg, 1.0)
    gap = np.where(has_market, np.round((current - safe_avg) / safe_avg * 100, 6), np.nan)

    lower = has_market & (gap > rules.lower_gap_pct) & (velocity < rules.lower_max_velocity)
    raise_ = has_market & (gap < -rules.raise_gap_pct) & (velocity >= rules.raise_min_velocity)
    moving = lower | raise_
    target = np.where(moving, round_cents(rules.target_factor * safe_avg), current)

    step = rules.max_step_pct / 100
    low_bound, high_bound = round_cents(current * (1 - step)), round_cents(current * (1 + step))
    capped = np.clip(target, low_bound, high_bound)
    hit_step = moving & (capped != target)
    price = capped
    hit_ending = np.zeros(len(price), dtype=bool)
    if rules.price_ending is not None:
        ended = round_cents(down_to_ending(price, rules.price_ending))
        hit_ending = moving & (np.abs(ended - price) > 0.001)
        price = np.where(moving, ended, price)
    floor = round_cents(np.ceil(cost * (1 + rules.min_margin_pct / 100) * 100 - 1e-6) / 100)
    if rules.price_ending is not None:
        floor = round_cents(up_to_ending(floor, rules.price_ending))
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
    guardrail = guardrail_labels(
        {"max_step": hit_step & ~by_floor, "price_ending": hit_ending & ~by_floor, "min_margin": by_floor}
    )
    recommendation = np.where(lower, "lower", np.where(raise_, "raise", "hold"))
    out = {
        "product_id": np.asarray(inputs["product_id"], dtype=object),
        "current_price": current,
        "competitor_avg_price": np.where(has_market, round_cents(safe_avg), np.nan),
        "competitors_seen": seen,
        "price_gap_pct": np.round(gap, 2),
        "demand_velocity": velocity,
        "recommendation": recommendation,
        "recommended_price": round_cents(price),
        "confidence": confidence,
        "guardrail": guardrail,
        "margin_floor": floor,
    }
    out["reason"] = np.array(_reasons(out, inputs, rules), dtype=object)
    return out


def row(decided: Mapping[str, np.ndarray], index: int) -> dict[str, object]:
    """One decided product as a plain dict (for logs, metadata and tests)."""
    return {name: column[index].item() if hasattr(column[index], "item") else column[index]
            for name, column in decided.items()}  # fmt: skip


def _strength(gap: np.ndarray, moving: np.ndarray, rules: PricingRules) -> np.ndarray:
    abs_gap = np.abs(np.nan_to_num(gap))
    threshold = np.where(np.nan_to_num(gap) > 0, rules.lower_gap_pct, rules.raise_gap_pct)
    move_strength = np.minimum(1.0, abs_gap / (2 * threshold))
    inside = abs_gap <= threshold
    hold_strength = np.where(
        inside, 1 - abs_gap / (2 * threshold), 0.5 * np.minimum(1.0, threshold / np.maximum(abs_gap, 1e-9))
    )
    return np.where(moving, move_strength, hold_strength)


def guardrail_labels(flags: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per row, the guardrails whose flag is set, joined with "+" in GUARDRAILS order (None: none)."""
    unknown = set(flags) - set(GUARDRAILS)
    if unknown:
        raise ValueError(f"unknown guardrails {sorted(unknown)}; known: {GUARDRAILS}")
    labels = np.full(len(next(iter(flags.values()))), "", dtype=object)
    for name in GUARDRAILS:
        if name in flags:
            labels = np.where(flags[name], np.where(labels == "", name, labels + "+" + name), labels)
    return np.where(labels == "", None, labels)


_GUARDRAIL_TEXT = {
    "max_step": "bound by max step {step:g} %",
    "price_ending": "rounded to a .{cents:02d} ending",
    "min_margin": "held at the {margin:g} % margin floor",
}


def _reasons(out: Columns, inputs: Columns, rules: PricingRules) -> list[str]:
    """One sentence per product, e.g. "2 of 3 competitors below us; their average 85.00 is 14.9 % below our
    99.99; 0 purchases in the last hour → lower to 89.99, bound by max step 10 %"."""
    staleness_h = rules.staleness_s / 3600
    cents = round((rules.price_ending or 0) * 100)
    suffixes: dict[str, str] = {}  # the guardrail wording, built once per label rather than per product

    def suffix(label: str) -> str:
        if label not in suffixes:
            suffixes[label] = ", " + ", ".join(
                _GUARDRAIL_TEXT[g].format(step=rules.max_step_pct, cents=cents, margin=rules.min_margin_pct)
                for g in label.split("+")
            )
        return suffixes[label]

    reasons = []
    for (seen, gap, avg, current, velocity, decision, price, guardrail, floor, below, newest_age) in zip(
        out["competitors_seen"].tolist(), out["price_gap_pct"].tolist(), out["competitor_avg_price"].tolist(),
        out["current_price"].tolist(), out["demand_velocity"].tolist(), out["recommendation"].tolist(),
        out["recommended_price"].tolist(), out["guardrail"].tolist(), out["margin_floor"].tolist(),
        np.asarray(inputs["competitors_below"], dtype=np.int64).tolist(),
        np.asarray(inputs["newest_age_s"], dtype=float).tolist(),
        strict=True,
    ):  # fmt: skip
        if seen == 0:
            reasons.append(
                f"no competitor price fresher than {staleness_h:g} h "
                f"(newest is {newest_age / 3600:.1f} h old) → hold at {current:.2f}"
            )
            continue
        avg_side = "below" if gap > 0 else "above"
        market = (
            f"{below} of {seen} competitors below us; their average {avg:.2f} is {abs(gap):.1f} % {avg_side} "
            f"our {current:.2f}"
        )
        demand = f"{velocity} purchase{'s' if velocity != 1 else ''} in the last hour"
        if decision == "hold" and guardrail == "min_margin":
            reasons.append(
                f"{market}; {demand} → hold at {current:.2f}: a move is blocked by the "
                f"{rules.min_margin_pct:g} % margin floor at {floor:.2f}"
            )
        elif decision == "hold":
            reasons.append(f"{market}; {demand} → hold at {current:.2f}")
        else:
            reasons.append(
                f"{market}; {demand} → {decision} to {price:.2f}{suffix(guardrail) if guardrail else ''}"
            )
    return reasons
