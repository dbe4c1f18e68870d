"""The `profit` strategy: the price that maximises expected gross profit from the learned demand, within
every guardrail (numpy, all products at once; the `rules` strategy is `engine.decide`).

Demand, from the product's estimate (pricing/demand.py; the category prior while there is none):
    units per hour at price p:  q(p) = q_ref · exp(b · (p / r − 1))
with r the reference price, b the elasticity at r and q_ref the units per hour at r (recent views per
hour × the estimated conversion at r). Expected gross profit per hour (p − cost) · q(p) is highest at
    p* = cost + r / |b|
(for b < 0; a demand that does not fall with price cannot be optimised: hold). Competitor prices move
the level of demand, not this optimum, in this model; they enter through the price-war guard.

Then, in this order, each recorded in `guardrail` when it changed the price:
    stock_cover  raise to the price whose demand the stock covers until restock (stock / q(p) ≥ the lead
                 time) when it would run out earlier; mark down to the price that sells the stock within
                 the overstock horizon when cover at the target is longer;
    price_war    never lower while a competitor has followed our last cut (they would follow again);
    max_step     ±max_step_pct of the current price per change;
    map_bounds   the product's minimum / maximum price, when set;
    price_ending down to the nearest ending;
    min_margin   never below unit cost × (1 + min margin), rounded up to the ending: wins over every other.
A move whose expected profit gain is below min_gain_pct of the current profit is held (no churn for
pennies), unless stock cover asked for it or the current price is outside the product's bounds.
Out of stock: hold (no price sells what is not there).

Confidence = the estimate's precision: max(0, 1 − std error / |b|) (the prior's 1.0 on 1.5 gives 0.33).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pricing_platform.pricing.engine import down_to_ending, guardrail_labels, round_cents, up_to_ending
from pricing_platform.pricing.rules import PricingRules

Columns = Mapping[str, np.ndarray]

INPUT_COLUMNS = (
    "product_id",
    "current_price",
    "unit_cost",
    "reference_price",
    "competitor_avg",
    "competitors_seen",
    "velocity",
    "min_price",  # NaN: no minimum
    "max_price",  # NaN: no maximum
    "stock",  # units across the warehouses
    "views_per_hour",  # recent
    "elasticity",
    "elasticity_se",
    "conversion",  # purchases per view at the reference price (NaN: unknown)
    "estimate_source",
    "war_competitor",  # a competitor that followed our last cut (None: none did)
)
_MIN_PROFIT = 1e-9


def _units(q_ref: np.ndarray, b: np.ndarray, price: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return q_ref * np.exp(b * (price / reference - 1))


def _price_for_units(
    q_ref: np.ndarray, b: np.ndarray, units: np.ndarray, reference: np.ndarray
) -> np.ndarray:
    """The price at which q(p) = units (b < 0, q_ref > 0, units > 0)."""
    return reference * (1 + np.log(units / q_ref) / b)


def predict(inputs: Columns, prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected units and gross profit per hour at `prices` under the demand model above (0 where demand
    is unknown or does not fall with price, as the strategy treats it)."""
    b = np.asarray(inputs["elasticity"], dtype=float)
    conversion = np.asarray(inputs["conversion"], dtype=float)
    views = np.asarray(inputs["views_per_hour"], dtype=float)
    reference = np.asarray(inputs["reference_price"], dtype=float)
    cost = np.asarray(inputs["unit_cost"], dtype=float)
    falls = b < 0
    q_ref = np.where(np.isfinite(conversion) & (conversion > 0), views * conversion, 0.0)
    known = falls & (q_ref > 0)
    units = _units(np.where(known, q_ref, 1.0), np.where(falls, b, -1.0), prices, reference) * known
    return units, (prices - cost) * units


def decide_profit(inputs: Columns, rules: PricingRules) -> dict[str, np.ndarray]:
    """One recommendation per row: the columns of `engine.OUTPUT_COLUMNS` plus the predicted units and
    profit per hour at the current and the recommended price."""
    current = np.asarray(inputs["current_price"], dtype=float)
    cost = np.asarray(inputs["unit_cost"], dtype=float)
    reference = np.asarray(inputs["reference_price"], dtype=float)
    b = np.asarray(inputs["elasticity"], dtype=float)
    se = np.asarray(inputs["elasticity_se"], dtype=float)
    conversion = np.asarray(inputs["conversion"], dtype=float)
    views = np.asarray(inputs["views_per_hour"], dtype=float)
    stock = np.asarray(inputs["stock"], dtype=float)
    min_price = np.asarray(inputs["min_price"], dtype=float)
    max_price = np.asarray(inputs["max_price"], dtype=float)
    war = np.array([w is not None for w in inputs["war_competitor"]], dtype=bool)
    avg = np.asarray(inputs["competitor_avg"], dtype=float)
    seen = np.asarray(inputs["competitors_seen"], dtype=np.int64)
    n = len(current)

    falls = b < 0
    safe_b = np.where(falls, b, -1.0)
    q_ref = np.where(np.isfinite(conversion) & (conversion > 0), views * conversion, 0.0)
    knows_demand = falls & (q_ref > 0)
    in_stock = stock > 0
    movable = knows_demand & in_stock
    safe_q = np.where(q_ref > 0, q_ref, 1.0)

    optimum = cost + reference / np.abs(safe_b)
    target = optimum.copy()

    # Stock: the lead time's demand at the target must fit in the stock; overstock is marked down.
    lead_h = rules.lead_time_h
    horizon_h = rules.overstock_days * 24
    at_target = _units(safe_q, safe_b, target, reference)
    short = movable & (at_target * lead_h > stock)
    covering = _price_for_units(safe_q, safe_b, np.maximum(stock, 1.0) / lead_h, reference)
    target = np.where(short, np.maximum(target, covering), target)
    over = movable & ~short & (at_target * horizon_h < stock)
    clearing = _price_for_units(safe_q, safe_b, np.maximum(stock, 1.0) / horizon_h, reference)
    target = np.where(over, np.minimum(target, clearing), target)
    hit_stock = short | over

    hit_war = movable & war & (target < current)
    target = np.where(hit_war, current, target)

    step = rules.max_step_pct / 100
    low_bound, high_bound = round_cents(current * (1 - step)), round_cents(current * (1 + step))
    price = np.clip(round_cents(target), low_bound, high_bound)
    hit_step = movable & (price != round_cents(target))
    mapped = np.clip(price, np.where(np.isfinite(min_price), min_price, -np.inf),
                     np.where(np.isfinite(max_price), max_price, np.inf))  # fmt: skip
    hit_map = movable & (mapped != price)
    price = mapped
    hit_ending = np.zeros(n, dtype=bool)
    if rules.price_ending is not None:
        # Down to the ending, except where that would cross a minimum price: then up.
        ended = round_cents(down_to_ending(price, rules.price_ending))
        below_min = np.isfinite(min_price) & (ended < min_price)
        ended = np.where(below_min, round_cents(up_to_ending(price, rules.price_ending)), ended)
        hit_ending = movable & (np.abs(ended - price) > 0.001)
        price = ended
    floor = round_cents(np.ceil(cost * (1 + rules.min_margin_pct / 100) * 100 - 1e-6) / 100)
    if rules.price_ending is not None:
        floor = round_cents(up_to_ending(floor, rules.price_ending))
    hit_margin = movable & (price < floor)
    price = np.where(hit_margin, floor, price)
    price = np.where(movable, price, current)

    units_now = _units(safe_q, safe_b, current, reference) * knows_demand
    units_new = _units(safe_q, safe_b, price, reference) * knows_demand
    profit_now = (current - cost) * units_now
    profit_new = (price - cost) * units_new
    gain = profit_new - profit_now
    worth_it = gain >= rules.min_gain_pct / 100 * np.maximum(np.abs(profit_now), _MIN_PROFIT)
    changed = np.abs(price - current) > 0.001
    # A price outside the product's bounds moves whatever the profit says (the bounds are constraints).
    outside = (np.isfinite(min_price) & (current < min_price)) | (
        np.isfinite(max_price) & (current > max_price)
    )
    moving = movable & changed & (worth_it | hit_stock | outside)
    price = np.where(moving, price, current)
    units_new = np.where(moving, units_new, units_now)
    profit_new = np.where(moving, profit_new, profit_now)
    recommendation = np.where(moving & (price > current), "raise", np.where(moving, "lower", "hold"))

    with np.errstate(divide="ignore", invalid="ignore"):
        confidence = np.where(falls, np.clip(1 - se / np.abs(safe_b), 0, 1), 0.0)
    confidence = np.round(np.nan_to_num(confidence), 3)
    flags = {
        "stock_cover": moving & hit_stock,
        "price_war": hit_war,
        "max_step": moving & hit_step & ~hit_margin,
        "map_bounds": moving & hit_map & ~hit_margin,
        "price_ending": moving & hit_ending & ~hit_margin,
        "min_margin": movable & hit_margin,
    }
    has_market = (seen > 0) & np.isfinite(avg) & (avg > 0)
    safe_avg = np.where(has_market, avg, 1.0)
    out: dict[str, np.ndarray] = {
        "product_id": np.asarray(inputs["product_id"], dtype=object),
        "current_price": current,
        "competitor_avg_price": np.where(has_market, round_cents(safe_avg), np.nan),
        "competitors_seen": seen,
        "price_gap_pct": np.where(has_market, np.round((current - safe_avg) / safe_avg * 100, 2), np.nan),
        "demand_velocity": np.asarray(inputs["velocity"], dtype=np.int64),
        "recommendation": recommendation,
        "recommended_price": round_cents(price),
        "confidence": confidence,
        "guardrail": guardrail_labels(flags),
        "predicted_units_now": units_now,
        "predicted_units_new": units_new,
        "predicted_profit_now": profit_now,
        "predicted_profit_new": profit_new,
        "optimum": np.where(knows_demand, round_cents(optimum), np.nan),
    }
    out["reason"] = np.array(
        _reasons(out, inputs, rules, knows_demand, in_stock, falls, short, over, floor, changed), dtype=object
    )
    return out


def _reasons(
    out: Columns,
    inputs: Columns,
    rules: PricingRules,
    knows_demand: np.ndarray,
    in_stock: np.ndarray,
    falls: np.ndarray,
    short: np.ndarray,
    over: np.ndarray,
    floor: np.ndarray,
    changed: np.ndarray,
) -> list[str]:
    """One sentence per product, e.g. "elasticity −1.90 ± 0.20 (shrunk); at 899.99 2.1 units/h, profit
    378/h; optimum 1,193.68 → raise to 989.99: 1.8 units/h, profit 441/h, bound by max step 10 %"."""
    # Plain Python values, read row by row: indexing numpy arrays one element at a time costs more than
    # formatting the sentence.
    rows = zip(
        *(np.asarray(column).tolist() for column in (
            inputs["elasticity"], inputs["elasticity_se"], inputs["estimate_source"], out["current_price"],
            falls, knows_demand, in_stock, out["predicted_units_now"], out["predicted_profit_now"],
            out["optimum"], inputs["stock"], short, over, inputs["war_competitor"], out["guardrail"], floor,
            out["recommendation"], changed, out["recommended_price"], out["predicted_units_new"],
            out["predicted_profit_new"],
        )),
        strict=True,
    )  # fmt: skip
    reasons = []
    for (b, se, source, current, falls_i, knows_i, in_stock_i, units_now, profit_now, optimum, stock,
         short_i, over_i, war, guardrail, floor_i, decision, changed_i, price, units_new,
         profit_new) in rows:  # fmt: skip
        estimate = f"elasticity {b:.2f} ± {se:.2f} ({source})"
        if not falls_i:
            reasons.append(f"{estimate}: demand does not fall with price, no optimum → hold at {current:.2f}")
            continue
        if not knows_i:
            reasons.append(f"{estimate}; no recent views to predict units from → hold at {current:.2f}")
            continue
        if not in_stock_i:
            reasons.append(f"{estimate}; out of stock in every warehouse → hold at {current:.2f}")
            continue
        now = (
            f"{estimate}; at {current:.2f} {units_now:.1f} units/h, profit {profit_now:,.0f}/h; optimum "
            f"{optimum:,.2f}"
        )
        notes = []
        if short_i:
            notes.append(f"{stock:.0f} units in stock would not last the {rules.lead_time_h:g} h lead time")
        elif over_i:
            notes.append(f"{stock:.0f} units in stock would last beyond {rules.overstock_days:g} days")
        labels = (guardrail or "").split("+")
        if war is not None and "price_war" in labels:
            notes.append(f"{war} followed our last cut: not lowering")
        if "max_step" in labels:
            notes.append(f"bound by max step {rules.max_step_pct:g} %")
        if "map_bounds" in labels:
            notes.append("held within the product's minimum/maximum price")
        if "min_margin" in labels:
            notes.append(f"held at the {rules.min_margin_pct:g} % margin floor {floor_i:.2f}")
        suffix = f"; {'; '.join(notes)}" if notes else ""
        if decision == "hold":
            why = (
                f"gain below {rules.min_gain_pct:g} %"
                if changed_i
                else "the guardrails allow no better price"
            )
            reasons.append(f"{now} → hold at {current:.2f} ({why}){suffix}")
        else:
            reasons.append(
                f"{now} → {decision} to {price:.2f}: {units_new:.1f} units/h, profit "
                f"{profit_new:,.0f}/h{suffix}"
            )
    return reasons
