"""Price experiments scored against the simulated market's truth: over `--seeds` (10) seeded markets, one
switchback experiment on one product, run through the whole platform (broker, ingest workers, the
engine every step with prices otherwise static, `run_experiments` switching the arms through the outbox,
relay and storefront), analysed by the platform from its landed events alone (`experiment_store.results`).

The truth, per run, is computed from the market's hidden demand: at every simulated hour of the experiment,
the probability that a view converts at the control price and at the test price given the competitors'
prices at that moment, weighted by the hour's share of traffic. From it the true arc elasticity between
the arms' prices and the true gross-profit uplift per view of arm B over A. The platform's 90 % intervals
are scored on whether they cover those.

Target (issue 17): both intervals cover the truth in at least 8 of 10 runs. Seeds are drawn at run time
and printed (`--seed` repeats one); the product is drawn per seed from the five with most traffic.

    python benchmarks/experiment_coverage.py [--seeds 10] [--seed N ...] [--days 6] [--arm-b-pct 8]
"""

from __future__ import annotations

import json
import math
import random
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pricing_platform.core.catalog import PRODUCTS_BY_ID
from pricing_platform.core.settings import default_settings
from pricing_platform.pricing import experiment_store
from pricing_platform.pricing.experiments import ExperimentParams
from pricing_platform.pricing.rules import PricingRules
from pricing_platform.simulation.run import SimulatedRun, apply_nothing
from pricing_platform.simulators.market.demand import hourly_share
from pricing_platform.simulators.world import PRODUCT_INFOS

console = Console(width=160)
RESULTS = Path(__file__).parent / "results" / "experiment_coverage.json"
TARGET_COVERED = 8
TOP_PRODUCTS = 5


@dataclass
class Scored:
    seed: int
    product_id: str
    control_price: float
    test_price: float
    views_a: int
    views_b: int
    units_a: int
    units_b: int
    true_elasticity: float
    elasticity: float
    elasticity_low: float
    elasticity_high: float
    true_uplift: float
    uplift: float
    uplift_low: float
    uplift_high: float
    wall_s: float

    @property
    def elasticity_covered(self) -> bool:
        return self.elasticity_low <= self.true_elasticity <= self.elasticity_high

    @property
    def uplift_covered(self) -> bool:
        return self.uplift_low <= self.true_uplift <= self.uplift_high


def run(seed: int, days: int, arm_b_pct: float, block_minutes: int) -> Scored:
    settings = default_settings()
    rules = PricingRules.from_settings(settings)
    params = ExperimentParams.from_settings(settings)
    started = time.perf_counter()
    top = sorted(PRODUCT_INFOS, key=lambda p: -p.popularity)[:TOP_PRODUCTS]
    product = random.Random(seed).choice(top).product_id
    step = timedelta(minutes=block_minutes)
    with SimulatedRun(
        settings, seed=seed, days=days, sessions_per_day=settings.market_sessions_per_day, rules=rules,
        apply_policy=apply_nothing, step=step,
    ) as sim:  # fmt: skip
        request = experiment_store.Request(
            f"benchmark {product}", "product", product, arm_b_pct, days, block_minutes
        )
        plan = experiment_store.plan(sim.conn, rules, params, request, sim.start, seed)
        experiment_id = experiment_store.create(sim.conn, plan, "benchmark")
        (arms,) = plan.arms
        control, test = float(arms.control_price), float(arms.test_price)
        cost = float(PRODUCTS_BY_ID[product].unit_cost)
        index = next(i for i, p in enumerate(PRODUCT_INFOS) if p.product_id == product)
        truth = sim.market.demand[index]
        # Σ weight × (conversion, gross profit per view) at each arm, over the experiment's hours.
        sums = {"conv_a": 0.0, "conv_b": 0.0, "profit_a": 0.0, "profit_b": 0.0}
        steps = round(timedelta(days=days) / step)
        for k in range(steps):
            until = sim.start + step * (k + 1)
            middle = until - step / 2
            sim.run_step(until)
            competitors = sim.market.competitor_prices(index, until)
            weight = hourly_share(middle.hour)
            conv_a, conv_b = truth.conversion(control, competitors), truth.conversion(test, competitors)
            sums["conv_a"] += weight * conv_a
            sums["conv_b"] += weight * conv_b
            sums["profit_a"] += weight * conv_a * (control - cost)
            sums["profit_b"] += weight * conv_b * (test - cost)
        result = experiment_store.results(sim.conn, experiment_id, params, sim.market.now).analysis
        assert result is not None
    a, b = result.arms
    return Scored(
        seed, product, control, test, a.views, b.views, a.units, b.units,
        math.log(sums["conv_b"] / sums["conv_a"]) / math.log(test / control),
        result.elasticity.estimate, result.elasticity.low, result.elasticity.high,
        sums["profit_b"] / sums["profit_a"] - 1,
        result.profit_uplift.estimate, result.profit_uplift.low, result.profit_uplift.high,
        time.perf_counter() - started,
    )  # fmt: skip


def main(
    seeds: Annotated[int, typer.Option(help="how many seeds to draw")] = 10,
    seed: Annotated[list[int] | None, typer.Option(help="run these seeds instead of drawing")] = None,
    days: Annotated[int, typer.Option(help="the experiment's planned length (even)")] = 6,
    arm_b_pct: Annotated[float, typer.Option(help="arm B's change from the control price, %")] = 8.0,
    block_minutes: Annotated[int, typer.Option(help="switchback block length")] = 60,
) -> None:
    chosen = seed or [secrets.randbelow(2**31) for _ in range(seeds)]
    console.print(f"seeds: {' '.join(map(str, chosen))} ({'given' if seed else 'drawn at run time'}); "
                  f"{days} simulated days per experiment, arm B {arm_b_pct:+g} %, "
                  f"{block_minutes}-minute blocks")  # fmt: skip
    table = Table("seed", "product", "A → B", "views A/B", "units A/B", "true elasticity", "90 % interval",
                  "true uplift", "90 % interval", "covered", "wall s",
                  title="experiment vs truth")  # fmt: skip
    scored: list[Scored] = []
    for s in chosen:
        r = run(s, days, arm_b_pct, block_minutes)
        scored.append(r)
        table.add_row(
            str(s), r.product_id, f"{r.control_price:.2f} → {r.test_price:.2f}",
            f"{r.views_a:,}/{r.views_b:,}",
            f"{r.units_a:,}/{r.units_b:,}", f"{r.true_elasticity:.2f}",
            f"{r.elasticity:.2f} [{r.elasticity_low:.2f}, {r.elasticity_high:.2f}]", f"{r.true_uplift:+.1%}",
            f"{r.uplift:+.1%} [{r.uplift_low:+.1%}, {r.uplift_high:+.1%}]",
            f"{'E' if r.elasticity_covered else '-'}{'U' if r.uplift_covered else '-'}", f"{r.wall_s:.0f}",
        )  # fmt: skip
        console.print(f"seed {s}: elasticity {r.elasticity:.2f} vs true {r.true_elasticity:.2f}, "
                      f"uplift {r.uplift:+.1%} vs true {r.true_uplift:+.1%}")  # fmt: skip
    console.print(table)
    elasticity = sum(r.elasticity_covered for r in scored)
    uplift = sum(r.uplift_covered for r in scored)
    met = elasticity >= TARGET_COVERED * len(scored) / 10 and uplift >= TARGET_COVERED * len(scored) / 10
    console.print(f"90 % intervals covering the truth: elasticity {elasticity}/{len(scored)}, "
                  f"gross-profit uplift {uplift}/{len(scored)} (target ≥ {TARGET_COVERED} of 10): "
                  f"{'met' if met else 'NOT met'}")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(
        {"days": days, "arm_b_pct": arm_b_pct, "block_minutes": block_minutes,
         "elasticity_covered": elasticity, "uplift_covered": uplift, "runs": [asdict(r) for r in scored]},
        indent=2) + "\n")  # fmt: skip


if __name__ == "__main__":
    typer.run(main)
