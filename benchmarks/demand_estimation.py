"""How well the demand estimator learns the market's true elasticities from the platform's own data.

For each seed (drawn at run time and printed, unless given): the simulated market runs `--days` (14)
days at its default sessions per day through the whole platform (broker, ingest workers, the pricing
engine every 15 simulated minutes with every raise and lower applied automatically, outbox, relay,
storefront), the engine using `--strategy` (rules: the seed's thresholds; profit: expected-profit
maximisation, starting from the prior and learning from the estimates refreshed every
`--estimate-every-h` simulated hours); then the estimator runs once on the landed data as of the
simulation's end, exactly as the hourly asset would, and each estimate is compared with the truth file
(elasticity at reference prices). Own-price variation comes only from the engine's own moves.

Targets (issue 15): every category's estimate within ±20 % of the truth, and the 90 % interval covering
the truth for at least 4 of the 5 categories.

    python benchmarks/demand_estimation.py [--seeds 1] [--seed N ...] [--days 14] [--strategy rules|profit]
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pricing_platform.core.settings import default_settings
from pricing_platform.pricing.demand import DemandParams, Estimate
from pricing_platform.pricing.demand_store import refresh_estimates
from pricing_platform.pricing.rules import PricingRules
from pricing_platform.simulation.run import SimulatedRun

console = Console(width=160)
WITHIN = 0.20
COVERED_AT_LEAST = 4


def run_seed(
    seed: int, days: float, strategy: str, estimate_every_h: float
) -> tuple[list[Estimate], dict, int, float]:
    settings = default_settings()
    params = DemandParams.from_settings(settings)
    rules = PricingRules.from_settings(settings).model_copy(update={"strategy": strategy})
    with tempfile.TemporaryDirectory() as tmp:
        truth_file = Path(tmp) / "truth.json"
        with SimulatedRun(
            settings, seed=seed, days=days, sessions_per_day=settings.market_sessions_per_day, rules=rules,
            estimate_every=timedelta(hours=estimate_every_h) if strategy == "profit" else None,
        ) as run:  # fmt: skip
            outcome = run.run(progress=True, write_truth_to=truth_file)
            started = time.perf_counter()
            estimates = refresh_estimates(run.conn, params, run.market.now)
            fit_s = time.perf_counter() - started
        truth = json.loads(truth_file.read_text())
    return estimates, truth, outcome.price_changes, fit_s


def error(estimate: float, truth: float) -> float:
    return estimate / truth - 1


def report(seed: int, estimates: list[Estimate], truth: dict, changes: int, fit_s: float) -> tuple[int, int]:
    categories = Table(
        "category", "truth", "estimate", "90 % interval", "error", f"±{WITHIN:.0%}", "covers", "source",
        "purchases", "price sd %", title=f"seed {seed}: categories ({changes} price changes applied; "
        f"estimated in {fit_s:.1f} s)",
    )  # fmt: skip
    within = covered = 0
    for e in (e for e in estimates if e.scope == "category"):
        t = truth["categories"][e.subject]["elasticity_at_reference"]
        ok, cover = abs(error(e.elasticity, t)) <= WITHIN, e.ci_low <= t <= e.ci_high
        within, covered = within + ok, covered + cover
        categories.add_row(
            e.subject, f"{t:.2f}", f"{e.elasticity:.2f}", f"[{e.ci_low:.2f}, {e.ci_high:.2f}]",
            f"{error(e.elasticity, t):+.0%}", "yes" if ok else "NO", "yes" if cover else "NO", e.source,
            f"{e.purchases:,}", f"{e.price_sd_pct:.1f}",
        )  # fmt: skip
    console.print(categories)
    products = Table(
        "product", "category", "truth", "estimate", "90 % interval", "error", "covers", "source", "purchases",
        "prices", "price sd %", title=f"seed {seed}: products",
    )  # fmt: skip
    for e in (e for e in estimates if e.scope == "product"):
        t = truth["products"][e.subject]["elasticity_at_reference"]
        products.add_row(
            e.subject, e.category, f"{t:.2f}", f"{e.elasticity:.2f}", f"[{e.ci_low:.2f}, {e.ci_high:.2f}]",
            f"{error(e.elasticity, t):+.0%}", "yes" if e.ci_low <= t <= e.ci_high else "NO", e.source,
            f"{e.purchases:,}", str(e.price_points), f"{e.price_sd_pct:.1f}",
        )  # fmt: skip
    console.print(products)
    return within, covered


def main(
    seeds: Annotated[int, typer.Option(help="how many seeds to draw")] = 1,
    seed: Annotated[list[int] | None, typer.Option(help="run these seeds instead of drawing")] = None,
    days: Annotated[float, typer.Option(help="simulated days per seed")] = 14.0,
    strategy: Annotated[
        str, typer.Option(help="the engine's strategy for every category: rules or profit")
    ] = "rules",
    estimate_every_h: Annotated[
        float, typer.Option(help="profit: simulated hours between estimate refreshes (the live asset: 1)")
    ] = 6.0,
) -> None:
    chosen = seed or [secrets.randbelow(2**31) for _ in range(seeds)]
    console.print(
        f"seeds: {' '.join(map(str, chosen))} (drawn at run time)" if not seed else f"seeds: {chosen}"
    )
    summary = Table("seed", "categories within ±20 %", "intervals covering", "target met", title="summary")
    for s in chosen:
        estimates, truth, changes, fit_s = run_seed(s, days, strategy, estimate_every_h)
        within, covered = report(s, estimates, truth, changes, fit_s)
        n = sum(e.scope == "category" for e in estimates)
        met = within == n and covered >= COVERED_AT_LEAST
        summary.add_row(str(s), f"{within}/{n}", f"{covered}/{n}", "yes" if met else "NO")
    console.print(summary)


if __name__ == "__main__":
    typer.run(main)
