"""Price elasticity of demand per product and category, estimated from the shop's own data.

Input: cells of product × hour × price shown, each with the product views and purchases at that price,
the mean competitor price observed in that hour, the hour of day, the product's category and its reference
(catalog base) price. Output: one `Estimate` per product and per category.

Model, fitted per category with statsmodels' Poisson GLM (log link, log views as offset, so it models the
purchases per view — conversion — not traffic):

    log E[purchases] = log views + a_product + b · (p / r − 1) + c · competitor + h_(hour of day)

p the price shown, r the product's reference price, `competitor` the hour's competitor average relative to
r (centred per product, so it moves only with competitors' price changes), h one per hour of day.
This is the logit's own-price shape at the small purchase shares of a web shop (log P ≈ α − β p / r),
so the elasticity at price p is b · p / r and at the reference price it is b.

Why this is not biased by the engine setting the price (price is endogenous):
- traffic is not price: the model explains purchases per view, so the engine lowering prices at night
  (few purchases because few visitors) says nothing about conversion;
- the engine reacts to competitor prices and the hour's demand: both are regressors, so the price effect
  is measured from price moves at comparable competitor prices and times of day;
- variation comes from our own price changes (and experiments, when there are any): a product whose price
  barely moved is flagged "not enough price variation" and borrows its category's estimate instead of
  reporting noise as a finding.

Shrinkage: each category gets one pooled slope (the category's elasticity, weighted by the evidence of
its products, with its Pearson-scaled standard error); each product with enough variation also gets its
own slope, pulled towards the category's by an empirical-Bayes weight (between-product variance by
DerSimonian–Laird, at least DEMAND_PRODUCT_SPREAD²): thin evidence ends near the category, strong evidence
keeps its own. A category without any
product with price variation reports the prior (DEMAND_PRIOR_ELASTICITY) with a wide interval and says so.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final, Literal

import numpy as np

from pricing_platform.core.settings import SettingsSection

Columns = Mapping[str, np.ndarray]
CELL_COLUMNS: Final = (
    "product_id",
    "category",
    "reference_price",
    "price",
    "competitor_avg",
    "hour",
    "views",
    "purchases",
)
Source = Literal["own", "shrunk", "category", "prior"]
NOT_ENOUGH_VARIATION: Final = "not enough price variation"


class DemandParams(SettingsSection):
    """The estimator's settings (DEMAND_*, defaults there)."""

    settings_prefix = "demand_"

    window_days: int  # the data an estimate uses
    min_price_sd_pct: float  # a product's prices must vary at least this much (view-weighted sd of log p)
    min_purchases: int  # a product with fewer purchases in the window does not get its own slope
    prior_elasticity: float  # reported for a category without price variation
    prior_sd: float  # its standard error
    product_spread: float  # least spread assumed between a category's product elasticities (sd)
    ci_level: float  # two-sided level of the reported intervals


@dataclass(frozen=True, slots=True)
class Estimate:
    scope: Literal["product", "category"]
    subject: str  # product id or category name
    category: str
    elasticity: float  # at the reference price
    std_error: float
    ci_low: float
    ci_high: float
    source: Source  # own slope, shrunk own slope, the category's, or the prior
    views: int
    purchases: int
    price_points: int  # distinct prices shown (summed over a category's products)
    price_sd_pct: float  # view-weighted standard deviation of log price within a product, in %
    conversion: float  # purchases per view at the reference price (NaN for a category)
    competitor_effect: float  # c: the category's response to competitors' relative price (NaN: none)
    note: str


def estimate(cells: Columns, params: DemandParams) -> list[Estimate]:
    """Estimates for every category and product present in `cells` (see the module docstring)."""
    category = np.asarray(cells["category"], dtype=object)
    out: list[Estimate] = []
    for name in sorted(set(category.tolist())):
        mask = category == name
        out.extend(_category(name, {k: np.asarray(v)[mask] for k, v in cells.items()}, params))
    return out


@dataclass(frozen=True)
class _Evidence:
    views: int
    purchases: int
    price_points: int
    price_sd_pct: float

    def varies(self, params: DemandParams) -> bool:
        return (
            self.price_points >= 2
            and self.price_sd_pct >= params.min_price_sd_pct
            and self.purchases >= params.min_purchases
        )


def _evidence(cells: Columns) -> _Evidence:
    views = np.asarray(cells["views"], dtype=float)
    purchases = np.asarray(cells["purchases"], dtype=float)
    log_price = np.log(np.asarray(cells["price"], dtype=float))
    total = views.sum()
    if total > 0:
        mean = float((views * log_price).sum() / total)
        sd = math.sqrt(float((views * (log_price - mean) ** 2).sum() / total))
    else:
        sd = 0.0
    points = len(np.unique(np.asarray(cells["price"], dtype=float)[views > 0]))
    return _Evidence(int(total), int(purchases.sum()), points, 100 * sd)


def _pooled(parts: list[_Evidence]) -> _Evidence:
    """A category's evidence: its products' totals, and their within-product price variation pooled
    (view-weighted), since the category's slope is identified by each product's moves, not by the price
    differences between products."""
    views = sum(e.views for e in parts)
    variance = sum(e.views * e.price_sd_pct**2 for e in parts) / views if views else 0.0
    return _Evidence(
        views, sum(e.purchases for e in parts), sum(e.price_points for e in parts), math.sqrt(variance)
    )


def _z(params: DemandParams) -> float:
    return NormalDist().inv_cdf(0.5 + params.ci_level / 2)


def _design(cells: Columns, products: list[str], slopes: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """Columns: an intercept per product, the price slope (one shared, or one per product in `slopes`),
    the competitor control and the hours of day (midnight is the baseline)."""
    product = np.asarray(cells["product_id"], dtype=object)
    reference = np.asarray(cells["reference_price"], dtype=float)
    x = np.asarray(cells["price"], dtype=float) / reference - 1
    competitor = np.asarray(cells["competitor_avg"], dtype=float) / reference
    # Centre the competitor level per product: intercepts carry levels, the control carries moves.
    centred = np.zeros(len(x))
    for pid in products:
        here = (product == pid) & np.isfinite(competitor)
        if here.any():
            centred[here] = competitor[here] - competitor[here].mean()
    hour = np.asarray(cells["hour"], dtype=np.int64)
    columns = [(product == pid).astype(float) for pid in products]
    names = [f"a:{pid}" for pid in products]
    if slopes is None:
        columns.append(x)
        names.append("b")
    else:
        columns += [np.where(product == pid, x, 0.0) for pid in slopes]
        names += [f"b:{pid}" for pid in slopes]
    if np.ptp(centred) > 0:
        columns.append(centred)
        names.append("c")
    for h in range(1, 24):
        if (hour == h).any() and (hour != h).any():
            columns.append((hour == h).astype(float))
            names.append(f"h:{h}")
    return np.column_stack(columns), names


@dataclass(frozen=True)
class _Fit:
    params: dict[str, float]
    std_errors: dict[str, float]


def _fit(cells: Columns, products: list[str], slopes: list[str] | None) -> _Fit:
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    views = np.asarray(cells["views"], dtype=float)
    keep = views > 0
    kept = {k: np.asarray(v)[keep] for k, v in cells.items()}
    design, names = _design(kept, products, slopes)
    model = GLM(
        np.asarray(kept["purchases"], dtype=float),
        design,
        family=families.Poisson(),
        offset=np.log(views[keep]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a product with very few purchases warns; its SE says it all
        # Pearson χ² scale: purchases come in baskets and sessions, more spread than Poisson; the scale
        # widens the intervals by what the data show.
        result = model.fit(scale="X2")
    return _Fit(
        dict(zip(names, np.asarray(result.params).tolist(), strict=True)),
        dict(zip(names, np.asarray(result.bse).tolist(), strict=True)),
    )


def _category(name: str, cells: Columns, params: DemandParams) -> list[Estimate]:
    z = _z(params)
    product = np.asarray(cells["product_id"], dtype=object)
    products = sorted(set(product.tolist()))
    evidence = {
        pid: _evidence({k: np.asarray(v)[product == pid] for k, v in cells.items()}) for pid in products
    }
    bought = [pid for pid in products if evidence[pid].purchases > 0]
    varying = [pid for pid in bought if evidence[pid].varies(params)]
    overall = _pooled(list(evidence.values()))

    def conversion(pid: str, slope: float) -> float:
        """Purchases per view at the reference price: the product's purchases over its views, each view
        weighted by the demand change the slope predicts between its price and the reference."""
        here = product == pid
        views = np.asarray(cells["views"], dtype=float)[here]
        if views.sum() == 0:
            return math.nan
        x = (
            np.asarray(cells["price"], dtype=float)[here]
            / np.asarray(cells["reference_price"], dtype=float)[here]
        )
        return evidence[pid].purchases / float((views * np.exp(slope * (x - 1))).sum())

    if not varying:
        b, se = params.prior_elasticity, params.prior_sd
        note = (
            f"{NOT_ENOUGH_VARIATION}: no product's price moved by {params.min_price_sd_pct:g} % with "
            f"{params.min_purchases} purchases; the prior {b:g} is reported"
        )
        category = _make("category", name, name, b, se, z, "prior", overall, math.nan, math.nan, note)
        return [category] + [
            _make("product", pid, name, b, se, z, "prior", evidence[pid], conversion(pid, b), math.nan,
                  f"{NOT_ENOUGH_VARIATION} in the category; the prior {b:g} is reported")
            for pid in products
        ]  # fmt: skip
    subset = {k: np.asarray(v)[np.isin(product, bought)] for k, v in cells.items()}
    pooled = _fit(subset, bought, None)
    b_cat, se_cat = pooled.params["b"], pooled.std_errors["b"]
    competitor = pooled.params.get("c", math.nan)
    own = _fit(subset, bought, varying) if len(varying) > 1 else pooled
    slopes = {pid: own.params.get(f"b:{pid}", b_cat) for pid in varying}
    ses = {pid: own.std_errors.get(f"b:{pid}", se_cat) for pid in varying}
    # Products differ at least by the assumed spread: with few products the data cannot show a small one,
    # and a spread of 0 would give every product the category's (too narrow) interval.
    tau2 = max(
        params.product_spread**2, _between_variance([slopes[p] for p in varying], [ses[p] for p in varying])
    )
    category = _make(
        "category", name, name, b_cat, se_cat, z, "own", overall, math.nan, competitor,
        f"pooled over {len(varying)} of {len(products)} products with price variation",
    )  # fmt: skip
    estimates = [category]
    for pid in products:
        e = evidence[pid]
        if pid in varying:
            own_w, prior_w = 1 / ses[pid] ** 2, 1 / tau2
            weight = own_w / (own_w + prior_w)
            value = weight * slopes[pid] + (1 - weight) * b_cat
            se = math.sqrt(1 / (own_w + prior_w) + ((1 - weight) * se_cat) ** 2)
            source: Source = "own" if weight > 0.95 else "shrunk"
            note = (
                f"own slope {slopes[pid]:.2f} ± {ses[pid]:.2f}, weight {weight:.2f} against the category's "
                f"{b_cat:.2f}"
            )
        else:
            value, se, source = b_cat, math.sqrt(se_cat**2 + tau2), "category"
            reason = "no purchases" if e.purchases == 0 else NOT_ENOUGH_VARIATION
            note = f"{reason} ({e.price_sd_pct:.1f} % sd over {e.price_points} prices); category estimate"
        estimates.append(
            _make("product", pid, name, value, se, z, source, e, conversion(pid, value), competitor, note)
        )
    return estimates


def _between_variance(values: list[float], ses: list[float]) -> float:
    """DerSimonian–Laird estimate of the spread of true product slopes around their mean (0 for fewer than
    two products, or when the observed spread is no more than their standard errors explain)."""
    if len(values) < 2:
        return 0.0
    w = np.array([1 / s**2 for s in ses])
    v = np.array(values)
    mean = float((w * v).sum() / w.sum())
    q = float((w * (v - mean) ** 2).sum())
    denominator = float(w.sum() - (w**2).sum() / w.sum())
    return max(0.0, (q - (len(values) - 1)) / denominator) if denominator > 0 else 0.0


def _make(
    scope: Literal["product", "category"],
    subject: str,
    category: str,
    value: float,
    se: float,
    z: float,
    source: Source,
    evidence: _Evidence,
    conversion: float,
    competitor: float,
    note: str,
) -> Estimate:
    return Estimate(
        scope=scope,
        subject=subject,
        category=category,
        elasticity=value,
        std_error=se,
        ci_low=value - z * se,
        ci_high=value + z * se,
        source=source,
        views=evidence.views,
        purchases=evidence.purchases,
        price_points=evidence.price_points,
        price_sd_pct=evidence.price_sd_pct,
        conversion=conversion,
        competitor_effect=competitor,
        note=note,
    )
