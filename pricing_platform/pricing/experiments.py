"""Price experiments: a time-split (switchback) A/B test on a product or a category, planned and analysed.

Design. Every shopper sees the same price at the same moment, so the arms alternate in time blocks
(EXPERIMENT_BLOCK_MINUTES) rather than by shopper. Demand has an hour-of-day pattern, so the schedule is
balanced across hours: the planned length is an even number of days, taken as pairs of days; within a
pair, each block slot (the same clock time on both days) gets arm A on one day and arm B on the other, in
a random order per slot. Each slot's two blocks form a *pair*, the unit the analysis resamples.

Arms. A (control) is each product's price when the experiment is created; B is that price changed by
`arm_b_pct`, taken down to the category's price ending. Both arms must pass the guardrails the pricing
engine keeps: min margin over unit cost, max step from the current price, and the product's min/max
price bounds (the database refuses the hard ones itself: migration 0014).

Analysis. A view is counted for the arm of its block only if it showed that arm's price (the few views
just after a switch, before the storefront applied it, are left out and counted). Per arm: views, units
(purchases), conversion, revenue and gross profit, and per view. The uplift of arm B over A (gross
profit, revenue and units per view) and the implied (arc) elasticity
ln(conversion_B / conversion_A) / ln(price_B / price_A) get percentile intervals from a bootstrap over
block pairs, which keeps each hour slot's A and B together (its hour-of-day level cancels).

Stopping rule. The experiment ends at its planned end; it stops early when, after EXPERIMENT_MIN_PAIRS
complete pairs, the whole interval of the gross-profit uplift lies below −EXPERIMENT_HARM_STOP_PCT (arm B
is surely harmful). Either way its products go back to the control price.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Final, Literal

import numpy as np

from pricing_platform.core.catalog import CENT
from pricing_platform.core.settings import SettingsSection
from pricing_platform.pricing.rules import PricingRules

Arm = Literal["A", "B"]
ARMS: Final[tuple[Arm, Arm]] = ("A", "B")
DAY: Final = timedelta(days=1)


class ExperimentParams(SettingsSection):
    """The experiments' settings (EXPERIMENT_*, defaults there)."""

    settings_prefix = "experiment_"

    block_minutes: int  # one switchback block
    days: int  # planned length (even)
    arm_b_pct: float  # the form's default change of arm B
    harm_stop_pct: float  # the stopping rule's threshold…
    min_pairs: int  # …judged after this many complete pairs
    ci_level: float
    bootstrap_samples: int


class ExperimentRefused(ValueError):
    """The experiment cannot run as asked; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Block:
    start: datetime
    end: datetime
    arm: Arm
    pair_no: int


@dataclass(frozen=True, slots=True)
class ProductPrice:
    product_id: str
    category: str
    current_price: Decimal
    unit_cost: Decimal
    min_price: Decimal | None
    max_price: Decimal | None


@dataclass(frozen=True, slots=True)
class ArmPrices:
    product_id: str
    control_price: Decimal
    test_price: Decimal


# --- planning ------------------------------------------------------------------------------------------


def first_block_start(now: datetime, block_minutes: int) -> datetime:
    """The first block boundary (blocks tile the UTC day from midnight) at or after `now`."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    block = timedelta(minutes=block_minutes)
    blocks_done = math.ceil((now - midnight) / block)
    return midnight + block * blocks_done


def plan_schedule(starts_at: datetime, days: int, block_minutes: int, seed: int) -> list[Block]:
    """The blocks of a `days`-long experiment from `starts_at`, balanced by slot of the day (see above)."""
    if days < 2 or days % 2:
        raise ExperimentRefused(
            f"the planned length must be an even number of days (2 or more), got {days}: every hour of the "
            "day gets arm A on one day of a pair and arm B on the other"
        )
    if not 15 <= block_minutes <= 720 or (24 * 60) % block_minutes:
        raise ExperimentRefused(
            f"a block of {block_minutes} minutes does not tile a day; use 15 to 720 minutes dividing 1,440 "
            "(e.g. 30, 60, 120)"
        )
    slots = 24 * 60 // block_minutes
    block = timedelta(minutes=block_minutes)
    rng = random.Random(seed)
    blocks: list[Block] = []
    for pair in range(days // 2):
        for slot in range(slots):
            first: Arm = rng.choice(ARMS)
            second: Arm = "B" if first == "A" else "A"
            start = starts_at + DAY * (2 * pair) + block * slot
            pair_no = pair * slots + slot
            blocks.append(Block(start, start + block, first, pair_no))
            blocks.append(Block(start + DAY, start + DAY + block, second, pair_no))
    return sorted(blocks, key=lambda b: b.start)


def _down_to_ending(price: Decimal, ending: float | None) -> Decimal:
    if ending is None:
        return price.quantize(CENT, rounding=ROUND_FLOOR)
    cents = Decimal(str(ending))
    return ((price - cents).to_integral_value(rounding=ROUND_FLOOR) + cents).quantize(CENT)


def arm_prices(
    products: Sequence[ProductPrice], arm_b_pct: float, rules_of: Callable[[str], PricingRules]
) -> list[ArmPrices]:
    """Each product's control (its current price) and test price, or a refusal naming every product
    whose arm B would break a guardrail of its category's policy."""
    if not products:
        raise ExperimentRefused("an experiment needs at least one product")
    if arm_b_pct == 0:
        raise ExperimentRefused("arm B must change the price: give a non-zero change in %")
    arms: list[ArmPrices] = []
    problems: list[str] = []
    for p in products:
        rules = rules_of(p.category)
        test = _down_to_ending(p.current_price * (1 + Decimal(str(arm_b_pct)) / 100), rules.price_ending)
        # Every switch is a price change, back and forth: the larger of the two moves is the step.
        low, high = min(test, p.current_price), max(test, p.current_price)
        step_pct = (high - low) / low * 100 if low > 0 else Decimal(100)
        floor = p.unit_cost * (1 + Decimal(str(rules.min_margin_pct)) / 100)
        if test == p.current_price:
            problems.append(f"{p.product_id}: arm B rounds to its current price {p.current_price}")
        elif step_pct > Decimal(str(rules.max_step_pct)) + Decimal("0.005"):
            problems.append(
                f"{p.product_id}: switching between {p.current_price} and arm B at {test} moves the price "
                f"{step_pct:.1f} %, above the max step of {rules.max_step_pct:g} % in {p.category}"
            )
        elif low < floor:
            problems.append(
                f"{p.product_id}: arm {'B' if test < p.current_price else 'A'} at {low} is below the "
                f"{rules.min_margin_pct:g} % margin floor {floor.quantize(CENT)} (unit cost {p.unit_cost})"
            )
        elif (p.min_price is not None and low < p.min_price) or (
            p.max_price is not None and high > p.max_price
        ):
            problems.append(
                f"{p.product_id}: an arm ({p.current_price} or {test}) is outside its price bounds "
                f"({p.min_price or 'no minimum'} to {p.max_price or 'no maximum'})"
            )
        arms.append(ArmPrices(p.product_id, p.current_price, test))
    if problems:
        raise ExperimentRefused("an arm breaks a guardrail: " + "; ".join(problems))
    return arms


# --- analysis --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    estimate: float
    low: float
    high: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True, slots=True)
class ArmTotals:
    arm: Arm
    blocks: int
    views: int
    units: int
    revenue: float
    gross_profit: float

    @property
    def conversion(self) -> float:
        return self.units / self.views if self.views else math.nan

    @property
    def profit_per_view(self) -> float:
        return self.gross_profit / self.views if self.views else math.nan

    @property
    def revenue_per_view(self) -> float:
        return self.revenue / self.views if self.views else math.nan


@dataclass(frozen=True, slots=True)
class Analysis:
    arms: tuple[ArmTotals, ArmTotals]
    complete_pairs: int
    profit_uplift: Interval  # relative change of gross profit per view, B over A
    revenue_uplift: Interval
    units_uplift: Interval  # i.e. of conversion
    elasticity: Interval  # arc elasticity between the arms' prices
    ci_level: float


# Per block: arm, pair, views, units, revenue, gross profit (rows of the block-stats query).
BlockRow = tuple[str, int, int, int, float, float]


def analyse(
    rows: Sequence[BlockRow], log_price_ratio: float, ci_level: float, samples: int, seed: int = 0
) -> Analysis:
    """Per-arm totals and the B-over-A uplifts and elasticity with bootstrap intervals over pairs.
    `log_price_ratio`: ln(price_B / price_A), view-weighted over the products when there are several."""
    if log_price_ratio == 0:
        raise ValueError("the arms have the same price: there is no price effect to measure")
    pairs = sorted({int(r[1]) for r in rows})
    index = {p: i for i, p in enumerate(pairs)}
    # sums[measure, pair, arm]
    sums = np.zeros((4, len(pairs), 2))
    blocks = [0, 0]
    in_pair = np.zeros((len(pairs), 2), dtype=int)
    for arm, pair, views, units, revenue, profit in rows:
        a = ARMS.index(arm)  # type: ignore[arg-type]
        i = index[int(pair)]
        sums[:, i, a] += (views, units, revenue, profit)
        blocks[a] += 1
        in_pair[i, a] += 1
    totals = sums.sum(axis=1)  # [measure, arm]
    arms = tuple(
        ArmTotals(
            arm, blocks[a], int(totals[0, a]), int(totals[1, a]), float(totals[2, a]), float(totals[3, a])
        )
        for a, arm in enumerate(ARMS)
    )
    complete = int(np.sum((in_pair[:, 0] > 0) & (in_pair[:, 1] > 0)))

    def measures(t: np.ndarray) -> np.ndarray:
        """[uplift profit, revenue, units, elasticity] from totals t[..., measure, arm]."""
        with np.errstate(divide="ignore", invalid="ignore"):
            per_view = t[..., 1:, :] / t[..., :1, :]  # units, revenue, profit per view
            uplift = per_view[..., :, 1] / per_view[..., :, 0] - 1
            elasticity = np.log(per_view[..., 0, 1] / per_view[..., 0, 0]) / log_price_ratio
        return np.stack([uplift[..., 2], uplift[..., 1], uplift[..., 0], elasticity], axis=-1)

    point = measures(totals)
    if pairs:
        rng = np.random.default_rng(seed)
        weights = rng.multinomial(len(pairs), np.full(len(pairs), 1 / len(pairs)), size=samples)
        resampled = np.einsum("sp,mpa->sma", weights, sums)
        draws = measures(resampled)
        tail = (1 - ci_level) / 2 * 100
        with np.errstate(invalid="ignore"):
            low, high = np.nanpercentile(draws, [tail, 100 - tail], axis=0)
    else:
        low = high = np.full(4, math.nan)
    intervals = [Interval(float(point[k]), float(low[k]), float(high[k])) for k in range(4)]
    return Analysis(arms, complete, *intervals, ci_level=ci_level)  # type: ignore[arg-type]


def harm_verdict(analysis: Analysis, params: ExperimentParams) -> str | None:
    """Why the stopping rule stops the experiment now, or None."""
    uplift = analysis.profit_uplift
    if analysis.complete_pairs < params.min_pairs or not math.isfinite(uplift.high):
        return None
    if uplift.high < -params.harm_stop_pct / 100:
        return (
            f"stopping rule: after {analysis.complete_pairs} block pairs arm B's gross profit per view is "
            f"{-uplift.estimate:.1%} below the control's ({analysis.ci_level:.0%} interval "
            f"{uplift.low:+.1%} to {uplift.high:+.1%}, entirely below −{params.harm_stop_pct:g} %)"
        )
    return None
