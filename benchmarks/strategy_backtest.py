"""Backtest: the same seeded market over `--days` (14) simulated days under (a) static prices, (b) the
seed's `rules` strategy and (c) the `profit` strategy, each through the whole platform (broker, ingest
workers, the engine every 15 simulated minutes with its moves applied automatically, outbox, relay,
storefront). The profit run starts from the category prior only and learns from that run's landed data
(estimates refreshed every `--estimate-every-h` simulated hours).

Printed per seed and elasticity scale: gross profit (Σ price − unit cost over landed purchases), revenue,
units, stock-out hours (product-hours with no stock in any warehouse, sampled every step) and price
changes, with ratios to static and profit vs rules; then the profit run's estimates against the truth.

Targets (issue 15): profit ≥ +8 % gross profit vs static and ≥ +5 % vs rules on every seed, with no more
stock-out hours than rules; also with the market's elasticities scaled by 0.7 and 1.3 (`--scale`).

    python benchmarks/strategy_backtest.py [--seeds 3] [--seed N ...] [--scale 1.0 ...] [--days 14]
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from demand_estimation import report
from rich.console import Console
from rich.table import Table

from pricing_platform.core.catalog import WAREHOUSES
from pricing_platform.core.settings import default_settings
from pricing_platform.pricing.demand import DemandParams
from pricing_platform.pricing.demand_store import refresh_estimates
from pricing_platform.pricing.rules import PricingRules
from pricing_platform.simulation.run import SimulatedRun, apply_every_move, apply_nothing
from pricing_platform.simulators.market.truth import write_truth

console = Console(width=160)
STRATEGIES = ("static", "rules", "profit")
PROFIT_VS_STATIC, PROFIT_VS_RULES = 1.08, 1.05

SALES_SQL = """
SELECT coalesce(sum(c.product_price - p.unit_cost), 0)::float8, coalesce(sum(c.product_price), 0)::float8,
       count(*)
FROM clickstream_events c JOIN products p USING (product_id)
WHERE c.event_type = 'purchase'
"""


@dataclass
class Outcome:
    profit: float
    revenue: float
    units: int
    stockout_hours: float
    price_changes: int


def run(strategy: str, seed: int, scale: float, days: float, estimate_every_h: float, truth: Path) -> Outcome:
    settings = default_settings()
    rules = PricingRules.from_settings(settings).model_copy(
        update={"strategy": "profit" if strategy == "profit" else "rules"}
    )
    with SimulatedRun(
        settings, seed=seed, days=days, sessions_per_day=settings.market_sessions_per_day,
        elasticity_scale=scale, rules=rules,
        apply_policy=apply_nothing if strategy == "static" else apply_every_move,
        estimate_every=timedelta(hours=estimate_every_h) if strategy == "profit" else None,
    ) as sim:  # fmt: skip
        steps = max(1, round(timedelta(days=days) / sim.step))
        stockout_hours = 0.0
        n, w = len(sim.market.prices), len(WAREHOUSES)
        for index in range(steps):
            sim.run_step(sim.start + sim.step * (index + 1))
            empty = sum(all(sim.market.stock[i * w + k] == 0 for k in range(w)) for i in range(n))
            stockout_hours += empty * sim.step.total_seconds() / 3600
        if strategy == "profit":
            write_truth(sim.market, truth)
            started = time.perf_counter()
            estimates = refresh_estimates(sim.conn, DemandParams.from_settings(settings), sim.market.now)
            fit_s = time.perf_counter() - started
            report(seed, estimates, json.loads(truth.read_text()), sim.outcome.price_changes, fit_s)
        profit, revenue, units = sim.conn.execute(SALES_SQL).fetchone()  # type: ignore[misc]
        return Outcome(profit, revenue, units, stockout_hours, sim.outcome.price_changes)


def main(
    seeds: Annotated[int, typer.Option(help="how many seeds to draw")] = 3,
    seed: Annotated[list[int] | None, typer.Option(help="run these seeds instead of drawing")] = None,
    scale: Annotated[list[float] | None, typer.Option(help="elasticity scales of the market")] = None,
    days: Annotated[float, typer.Option(help="simulated days per run")] = 14.0,
    estimate_every_h: Annotated[float, typer.Option(help="profit: hours between estimate refreshes")] = 6.0,
) -> None:
    chosen = seed or [secrets.randbelow(2**31) for _ in range(seeds)]
    scales = scale or [1.0]
    console.print(f"seeds: {' '.join(map(str, chosen))} ({'given' if seed else 'drawn at run time'}); "
                  f"elasticity scales: {scales}; {days:g} simulated days per run")  # fmt: skip
    summary = Table("seed", "scale", "profit vs static", "profit vs rules", "stock-out h profit/rules",
                    "target met", title="summary")  # fmt: skip
    for s in chosen:
        for k in scales:
            outcomes: dict[str, Outcome] = {}
            with tempfile.TemporaryDirectory() as tmp:
                for strategy in STRATEGIES:
                    outcomes[strategy] = run(strategy, s, k, days, estimate_every_h, Path(tmp) / "truth.json")
            base = outcomes["static"]
            table = Table("strategy", "gross profit", "vs static", "revenue", "vs static", "units",
                          "stock-out h", "price changes", title=f"seed {s}, elasticity × {k:g}")  # fmt: skip
            for name, o in outcomes.items():
                table.add_row(name, f"{o.profit:,.0f}", f"{o.profit / base.profit:.3f}", f"{o.revenue:,.0f}",
                              f"{o.revenue / base.revenue:.3f}", f"{o.units:,}", f"{o.stockout_hours:,.1f}",
                              f"{o.price_changes:,}")  # fmt: skip
            console.print(table)
            vs_static = outcomes["profit"].profit / base.profit
            vs_rules = outcomes["profit"].profit / outcomes["rules"].profit
            stockouts_ok = outcomes["profit"].stockout_hours <= outcomes["rules"].stockout_hours
            met = vs_static >= PROFIT_VS_STATIC and vs_rules >= PROFIT_VS_RULES and stockouts_ok
            stockouts = f"{outcomes['profit'].stockout_hours:,.1f} / {outcomes['rules'].stockout_hours:,.1f}"
            summary.add_row(str(s), f"{k:g}", f"{vs_static:.3f}", f"{vs_rules:.3f}", stockouts,
                            "yes" if met else "NO")  # fmt: skip
    console.print(summary)


if __name__ == "__main__":
    typer.run(main)
