"""Pricing-cycle benchmark: `run_cycle` over a large synthetic catalog, against the bare database read.

Starts its own PostgreSQL on a free loopback port, migrates a database and bulk-loads (COPY) a synthetic
world straight into the tables the cycle reads:

    products                  N products S000001…, the 5 catalog categories in turn, prices 10.99–1999.99
                              (log-uniform, .99 endings), unit cost 50–85 % of the price;
    competitor_prices_latest  3 competitors × N, priced around ours (market level 0.75–1.30 × our price,
                              ±3 % per competitor) so that raise, lower and hold all occur; ~5 % of the
                              products have only observations older than the staleness limit, ~10 % have
                              one stale observation of three;
    clickstream_events        purchases within the last hour for a share of the products (the velocity),
                              other recent traffic, and older events over the past week;
    inventory_state           3 warehouses × N, 0–600 units each (the profit strategy's stock cover).

`--strategy profit` prices every category with the profit strategy: the cycle then also runs its second
input query (stock, recent views, estimates with the prior as fallback, the price-war signal).

Then, for each round (default 5), in this order on one connection:

    baseline  `SELECT count(*) FROM products`;
    baseline  the input query (`INPUTS_SQL`) executed server-side only (EXPLAIN ANALYZE, no rows sent);
    baseline  the input query executed and fetched: the read with no DataFrame, decide or write;
    baseline  with `--strategy profit`, its second input query executed and fetched as well: the profit
              cycle reads both, so its ratio is also printed against the two together;
    cycle     `run_cycle(conn, rules)`, its read/decide/write split from `CycleSummary`.

Speed is reported, never asserted; the benchmark fails loudly when a cycle writes the wrong number of rows.

    python benchmarks/pricing_cycle.py [--products 100000] [--cycles 5] [--clicks 15×products] [--seed 42]
                                       [--strategy rules|profit]
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import psycopg
import typer
from psycopg import sql
from rich.console import Console
from rich.table import Table

from pricing_platform.core import tables
from pricing_platform.core.catalog import COMPETITORS, WAREHOUSES, Category
from pricing_platform.core.decisions import GUARDRAILS
from pricing_platform.db import migrate
from pricing_platform.localstack.ephemeral import PostgresProcess, free_port, server_root
from pricing_platform.localstack.postgres import LocalPostgres
from pricing_platform.pricing.cycle import (
    INPUTS_SQL,
    PROFIT_INPUTS_SQL,
    CycleSummary,
    input_params,
    profit_params,
    run_cycle,
)
from pricing_platform.pricing.rules import PricingRules

# Wide enough for the tables when the output goes to a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 160)

HOUR = 3600.0
CATEGORIES = tuple(c.value for c in Category)
CLICK_TYPES = ("page_view", "product_view", "add_to_cart", "remove_from_cart", "purchase")
DEVICES = ("mobile", "desktop", "tablet")
# Recent purchases sit between 30 s and 45 min ago and stale observations at least 7 h ago (limit 6 h), so
# the inputs do not drift across the rounds unless the run takes longer than a quarter of an hour.
RECENT_WINDOW = (30.0, 45 * 60.0)
FRESH_AGE = (60.0, 5 * HOUR)
STALE_AGE = (7 * HOUR, 72 * HOUR)
OLD_WINDOW = (HOUR + 60.0, 7 * 24 * HOUR)
COPY_CHUNK = 200_000
CLICKS_PER_PRODUCT = 15
T = TypeVar("T")


# ── seeding ──────────────────────────────────────────────────────────────────────────────────────────────


@dataclass
class World:
    products: int
    competitor_rows: int = 0
    stale_products: int = 0
    partly_stale_products: int = 0
    clicks: int = 0
    recent_purchases: int = 0
    products_with_recent_purchases: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def random_uuids(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` random UUIDs as 32-hex-digit strings (PostgreSQL accepts them without dashes)."""
    return np.frombuffer(rng.bytes(16 * count).hex().encode(), dtype="S32").astype("U32")


def copy_frame(cur: psycopg.Cursor, table: str, frame: pd.DataFrame) -> None:
    """COPY a DataFrame (columns named as the table's) in CSV chunks; empty fields load as NULL."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    )
    with cur.copy(statement) as copy:
        for start in range(0, len(frame), COPY_CHUNK):
            buffer = io.StringIO()
            # No float_format: it formats cell by cell in Python; the values are already rounded to cents.
            frame.iloc[start : start + COPY_CHUNK].to_csv(buffer, header=False, index=False)
            copy.write(buffer.getvalue())


def timestamps(now: float, ages_s: np.ndarray) -> np.ndarray:
    """ISO 8601 UTC text, formatted by numpy (pandas' CSV writer is slow on datetimes)."""
    micros = np.round((now - ages_s) * 1e6).astype("datetime64[us]")
    return np.datetime_as_string(micros, unit="us", timezone="UTC")


def seed_products(cur: psycopg.Cursor, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([f"S{i:06d}" for i in range(1, n + 1)], dtype=object)
    category = np.array(CATEGORIES, dtype=object)[np.arange(n) % len(CATEGORIES)]
    price = np.floor(np.exp(rng.uniform(np.log(10), np.log(2000), n))) + 0.99
    cost = np.round(price * rng.uniform(0.50, 0.85, n), 2)
    frame = pd.DataFrame(
        {
            "product_id": ids,
            "product_name": category + " model " + ids,
            "category": category,
            "base_price": price,
            "current_price": price,
            "unit_cost": cost,
        }
    )
    copy_frame(cur, tables.PRODUCTS, frame)
    return ids, price


def seed_competitors(
    cur: psycopg.Cursor,
    rng: np.random.Generator,
    now: float,
    ids: np.ndarray,
    price: np.ndarray,
    world: World,
) -> None:
    n, k = len(ids), len(COMPETITORS)
    market = rng.uniform(0.75, 1.30, n)  # competitor level / our price: gaps from about −23 % to +33 %
    theirs = np.maximum(np.round(price[:, None] * market[:, None] * rng.normal(1, 0.03, (n, k)), 2), 0.01)
    ages = rng.uniform(*FRESH_AGE, (n, k))
    stale = rng.random(n) < 0.05
    ages[stale] = rng.uniform(*STALE_AGE, (int(stale.sum()), k))
    partly = ~stale & (rng.random(n) < 0.10)
    ages[partly, rng.integers(0, k, int(partly.sum()))] = rng.uniform(*STALE_AGE, int(partly.sum()))
    ours = np.repeat(price, k)
    difference = np.round(theirs.ravel() - ours, 2)
    frame = pd.DataFrame(
        {
            "product_id": np.repeat(ids, k),
            "competitor_name": np.tile(np.array(COMPETITORS, dtype=object), n),
            "event_id": random_uuids(rng, n * k),
            "competitor_price": theirs.ravel(),
            "our_price": ours,
            "price_difference": difference,
            "price_difference_pct": np.round(difference / ours * 100, 2),
            "event_time": timestamps(now, ages.ravel()),
        }
    )
    copy_frame(cur, tables.COMPETITOR_PRICES_LATEST, frame)
    world.competitor_rows = len(frame)
    world.stale_products = int(stale.sum())
    world.partly_stale_products = int(partly.sum())


def seed_clickstream(
    cur: psycopg.Cursor,
    rng: np.random.Generator,
    now: float,
    ids: np.ndarray,
    price: np.ndarray,
    total: int,
    hot_fraction: float,
    world: World,
) -> None:
    n = len(ids)
    # The velocity: 1 + Poisson(4) purchases in the last hour for the "hot" products, so about half of
    # them reach the raise threshold (5) and the others stay in between.
    hot = np.flatnonzero(rng.random(n) < hot_fraction)
    per_hot = 1 + rng.poisson(4, len(hot))
    recent_purchase_products = np.repeat(hot, per_hot)
    recent_other = int(0.15 * total)
    old = total - len(recent_purchase_products) - recent_other
    if old < 0:
        raise ValueError(
            f"--clicks {total:,} leaves no room for the {len(recent_purchase_products):,} recent purchases"
        )

    def popular(m: int) -> np.ndarray:
        """Older traffic skews towards popular products (index drawn as n × u²)."""
        return np.minimum((n * rng.random(m) ** 2).astype(np.int64), n - 1)

    other_types = rng.choice(4, recent_other + old, p=[0.30, 0.46, 0.16, 0.08])
    old_types = np.where(rng.random(old) < 0.08, 4, other_types[recent_other:])
    product = np.concatenate([recent_purchase_products, popular(recent_other + old)])
    kind = np.concatenate([np.full(len(recent_purchase_products), 4), other_types[:recent_other], old_types])
    ages = np.concatenate(
        [
            rng.uniform(*RECENT_WINDOW, len(recent_purchase_products)),
            rng.uniform(0.0, HOUR - 60.0, recent_other),
            rng.uniform(*OLD_WINDOW, old),
        ]
    )
    order = np.argsort(-ages, kind="stable")  # arrival order, as the ingest writes them
    product, kind, ages = product[order], kind[order], ages[order]
    page_view = kind == 0
    categories = np.array(CATEGORIES, dtype=object)[product % len(CATEGORIES)]
    frame = pd.DataFrame(
        {
            "event_id": random_uuids(rng, total),
            "user_id": pd.Series(rng.integers(1, 250_000, total)).map("U{:06d}".format),
            "session_id": random_uuids(rng, total),
            "event_type": np.array(CLICK_TYPES, dtype=object)[kind],
            "product_id": np.where(page_view, None, ids[product]),
            "product_name": np.where(page_view, None, categories + " model " + ids[product]),
            "product_category": np.where(page_view, None, categories),
            "product_price": np.where(page_view, np.nan, price[product]),
            "device_type": np.array(DEVICES, dtype=object)[rng.choice(3, total, p=[0.6, 0.3, 0.1])],
            "event_time": timestamps(now, ages),
        }
    )
    copy_frame(cur, tables.CLICKSTREAM_EVENTS, frame)
    world.clicks = total
    world.recent_purchases = len(recent_purchase_products)
    world.products_with_recent_purchases = len(hot)


def seed(conninfo: str, n: int, clicks: int, hot_fraction: float, rng_seed: int) -> World:
    rng = np.random.default_rng(rng_seed)
    world = World(products=n)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        now = time.time()
        with conn.cursor() as cur:
            started = time.perf_counter()
            with conn.transaction():
                ids, price = seed_products(cur, rng, n)
            world.seconds["products"] = time.perf_counter() - started

            started = time.perf_counter()
            with conn.transaction():
                seed_competitors(cur, rng, now, ids, price, world)
            world.seconds["competitor_prices_latest"] = time.perf_counter() - started

            started = time.perf_counter()
            with conn.transaction():
                seed_clickstream(cur, rng, now, ids, price, clicks, hot_fraction, world)
            world.seconds["clickstream_events"] = time.perf_counter() - started

            started = time.perf_counter()
            with conn.transaction():
                copy_frame(cur, tables.INVENTORY_STATE, pd.DataFrame({
                    "product_id": np.repeat(ids, len(WAREHOUSES)),
                    "warehouse_id": np.tile(np.array(WAREHOUSES, dtype=object), n),
                    "current_stock": rng.integers(0, 601, n * len(WAREHOUSES)),
                }))  # fmt: skip
            world.seconds["inventory_state"] = time.perf_counter() - started

            started = time.perf_counter()
            tables_read = (tables.PRODUCTS, tables.COMPETITOR_PRICES_LATEST, tables.CLICKSTREAM_EVENTS,
                           tables.INVENTORY_STATE)  # fmt: skip
            for table in tables_read:
                # VACUUM as well: sets hint bits and the visibility map now, instead of in the first cycle.
                cur.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
            world.seconds["VACUUM (ANALYZE)"] = time.perf_counter() - started
    return world


# ── measuring ────────────────────────────────────────────────────────────────────────────────────────────


def proc_status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Rounds:
    count_s: list[float] = field(default_factory=list)
    server_s: list[float] = field(default_factory=list)
    fetch_s: list[float] = field(default_factory=list)
    fetched_rows: list[int] = field(default_factory=list)
    profit_fetch_s: list[float] = field(default_factory=list)  # --strategy profit: its second query
    cycles: list[CycleSummary] = field(default_factory=list)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def count_products(conn: psycopg.Connection) -> int:
    return conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(tables.PRODUCTS))
    ).fetchone()[0]


def fetch_inputs(conn: psycopg.Connection, rules: PricingRules) -> int:
    with conn.cursor() as cur:
        cur.execute(INPUTS_SQL, input_params(rules, datetime.now(UTC)))
        return len(cur.fetchall())


def fetch_profit_inputs(conn: psycopg.Connection, rules: PricingRules) -> int:
    with conn.cursor() as cur:
        cur.execute(PROFIT_INPUTS_SQL, profit_params(rules, datetime.now(UTC), None))
        return len(cur.fetchall())


def server_execution_s(conn: psycopg.Connection, rules: PricingRules) -> float:
    """The input query's execution time inside the server (no rows sent, no client conversion)."""
    explain = sql.SQL("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ") + INPUTS_SQL
    plan = conn.execute(explain, input_params(rules, datetime.now(UTC))).fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return plan[0]["Execution Time"] / 1000


def written_rows(conn: psycopg.Connection, summary: CycleSummary) -> int:
    query = sql.SQL("SELECT count(*) FROM {} WHERE cycle_id = %s").format(
        sql.Identifier(tables.PRICING_RECOMMENDATIONS)
    )
    return conn.execute(query, (summary.cycle_id,)).fetchone()[0]


def measure(conninfo: str, rounds: int, expected: int, rules: PricingRules) -> Rounds:
    result = Rounds()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for i in range(1, rounds + 1):
            with console.status(f"round {i}/{rounds}"):
                seconds, _ = timed(lambda: count_products(conn))
                result.count_s.append(seconds)
                result.server_s.append(server_execution_s(conn, rules))
                seconds, rows = timed(lambda: fetch_inputs(conn, rules))
                result.fetch_s.append(seconds)
                result.fetched_rows.append(rows)
                if rules.strategy == "profit":
                    seconds, _ = timed(lambda: fetch_profit_inputs(conn, rules))
                    result.profit_fetch_s.append(seconds)
                summary = run_cycle(conn, rules)
            result.cycles.append(summary)
            # Correctness, not speed: one row per product, every one of them written under this cycle.
            written = written_rows(conn, summary)
            decided = sum(summary.by_recommendation.values())
            if not summary.products_priced == written == decided == expected:
                raise RuntimeError(
                    f"cycle {summary.cycle_id}: expected {expected:,} recommendations, got "
                    f"products_priced={summary.products_priced:,}, rows written={written:,}, "
                    f"decisions={decided:,}"
                )
    return result


# ── report ───────────────────────────────────────────────────────────────────────────────────────────────


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:,.3f} s"


def spread(values: list[float]) -> tuple[str, str, str]:
    return fmt_s(min(values)), fmt_s(statistics.median(values)), fmt_s(max(values))


def splits(cycles: list[CycleSummary]) -> Iterator[tuple[str, list[float]]]:
    yield "run_cycle total", [c.total_s for c in cycles]
    yield "  read   (query + fetch + columns)", [c.read_s for c in cycles]
    yield "  decide (numpy rules + reasons)", [c.decide_s for c in cycles]
    yield "  write  (COPY)", [c.write_s for c in cycles]


def report(
    world: World, rounds: Rounds, rss: tuple[float, float], server_version: str, strategy: str
) -> None:
    cycles = rounds.cycles
    median_total = statistics.median(c.total_s for c in cycles)
    timing = Table(
        "measure",
        "min",
        "median",
        "max",
        "median vs cycle",
        title=f"pricing cycle benchmark · {world.products:,} products · {strategy} · {len(cycles)} rounds · "
        f"{os.cpu_count()} cores · PostgreSQL {server_version}",
    )
    baselines = [
        ("baseline: SELECT count(*) FROM products", rounds.count_s),
        ("baseline: input query, server execution only (EXPLAIN ANALYZE)", rounds.server_s),
        (f"baseline: input query executed + fetched ({rounds.fetched_rows[0]:,} rows)", rounds.fetch_s),
    ]
    if rounds.profit_fetch_s:
        baselines.append(("baseline: profit inputs query executed + fetched", rounds.profit_fetch_s))
    for label, values in [*baselines, *splits(cycles)]:
        timing.add_row(label, *spread(values), f"{statistics.median(values) / median_total:.0%}")
    timing.add_row(
        "cycle throughput (median)", "", f"{world.products / median_total:,.0f} products/s", "", ""
    )
    console.print(timing)

    guardrails = GUARDRAILS
    per_cycle = Table(
        "cycle", "read", "decide", "write", "total", "raise", "lower", "hold", *guardrails,
        title="per cycle: split, decisions and guardrail hits",
    )  # fmt: skip
    for i, c in enumerate(cycles, 1):
        per_cycle.add_row(
            str(i),
            fmt_s(c.read_s),
            fmt_s(c.decide_s),
            fmt_s(c.write_s),
            fmt_s(c.total_s),
            *(f"{c.by_recommendation.get(k, 0):,}" for k in ("raise", "lower", "hold")),
            *(f"{c.guardrail_hits.get(g, 0):,}" for g in guardrails),
        )
    console.print(per_cycle)

    facts = Table("fact", "value")
    last = cycles[-1]
    decisions = [(k, last.by_recommendation.get(k, 0)) for k in ("raise", "lower", "hold")]
    ratio = median_total / statistics.median(rounds.fetch_s)
    facts.add_row("run_cycle / input query executed + fetched (medians)", f"{ratio:.2f}×")
    if rounds.profit_fetch_s:
        both = [a + b for a, b in zip(rounds.fetch_s, rounds.profit_fetch_s, strict=True)]
        facts.add_row(
            "run_cycle / both input queries executed + fetched (medians; the profit cycle reads both)",
            f"{median_total / statistics.median(both):.2f}×",
        )
    facts.add_row("products priced per cycle", f"{last.products_priced:,} (rows written checked each cycle)")
    facts.add_row(
        "decisions (last cycle)",
        " · ".join(f"{k} {v:,} ({v / world.products:.1%})" for k, v in decisions),
    )
    stable = len({tuple(sorted(c.by_recommendation.items())) for c in cycles}) == 1
    facts.add_row("decision split identical across cycles", "yes" if stable else "[red]no: inputs drifted[/]")
    peak, before = rss
    facts.add_row(
        "peak RSS of the measuring process",
        f"{peak:,.0f} MiB (after imports, before the rounds: {before:,.0f} MiB)",
    )
    facts.add_row(
        "seeded competitor_prices_latest",
        f"{world.competitor_rows:,} rows; {world.stale_products:,} products only stale, "
        f"{world.partly_stale_products:,} with one stale",
    )
    facts.add_row(
        "seeded clickstream_events",
        f"{world.clicks:,} rows; {world.recent_purchases:,} purchases in the last hour "
        f"across {world.products_with_recent_purchases:,} products",
    )
    facts.add_row("seeding time", " · ".join(f"{k} {fmt_s(v)}" for k, v in world.seconds.items()))
    console.print(facts)


def main(
    products: int = typer.Option(100_000, min=1, max=999_999, help="products to seed and price"),
    cycles: int = typer.Option(5, min=1, help="measured rounds (baselines + one cycle each)"),
    clicks: int | None = typer.Option(
        None, min=0, help="clickstream rows to seed [default: 15 per product, 1,500,000 for 100,000]"
    ),
    hot_fraction: float = typer.Option(
        0.25, min=0.0, max=1.0, help="share of products bought in the last hour"
    ),
    rng_seed: int = typer.Option(42, "--seed", help="seed of the synthetic data"),
    strategy: str = typer.Option("rules", help="the strategy of every category: rules or profit"),
) -> None:
    root = server_root("pricing-bench-")
    log_dir = Path("test-artifacts/benchmark")
    log_dir.mkdir(parents=True, exist_ok=True)
    pg = PostgresProcess(LocalPostgres(root / "pg", free_port()), log_dir / "postgres-pricing.log")
    rules = PricingRules.defaults().model_copy(update={"strategy": strategy})
    rules.strategy_of(CATEGORIES[0])  # an unknown strategy fails here, before seeding
    clicks = CLICKS_PER_PRODUCT * products if clicks is None else clicks
    try:
        with console.status("starting PostgreSQL and migrating"):
            pg.start()
            pg.server.ensure_role_and_database("pricing", "bench_pricing")
            conninfo = pg.conninfo("bench_pricing")
            migrate.upgrade(conninfo)
        # Seeded from a child process, so that the peak RSS below is the rounds' own, not the seeding's.
        with (
            console.status(f"seeding {products:,} products and {clicks:,} clickstream rows"),
            ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool,
        ):
            world = pool.submit(seed, conninfo, products, clicks, hot_fraction, rng_seed).result()
        with psycopg.connect(conninfo) as conn:
            server_version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        rss_before = proc_status_mib("VmRSS")
        rounds = measure(conninfo, cycles, products, rules)
        rss_peak = proc_status_mib("VmHWM")
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    report(world, rounds, (rss_peak, rss_before), server_version, strategy)


if __name__ == "__main__":
    typer.run(main)
