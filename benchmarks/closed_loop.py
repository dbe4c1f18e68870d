"""The closed loop's speed: simulated days per wall-clock minute, the relay's throughput, and how long an
approved price takes to reach the storefront. Each figure beside a baseline measured in the same run.

1. Simulated time (`--days`, default 14, 30 SKUs, the market's default sessions per day, the engine's
   recommendations applied every 15 simulated minutes): days per minute through the whole platform
   (broker, ingest workers, engine, approvals, outbox, relay, storefront). Baseline: the market alone
   generating the same days of events (no broker, no database).
2. Relay throughput: `--changes` price changes in the outbox, published by one relay process, timed from
   its first marked batch to its last (the process's start is not counted). Baseline: the same messages
   produced straight to the topic by one producer.
3. Approval → storefront: `apply_price_change` (what an approval runs: the price, its audit row and its
   outbox row in one transaction) one change at a time while the relay runs; the time until the
   storefront has applied it, p50/p99 over `--approvals`. Baseline: that transaction itself.

    python benchmarks/closed_loop.py [--days 14] [--changes 20000] [--approvals 300]
"""

from __future__ import annotations

import secrets
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from confluent_kafka import Producer
from pydantic import PostgresDsn
from rich.console import Console
from rich.table import Table

from pricing_platform.core.catalog import PRICE_CHANGES_TOPIC, PRODUCTS
from pricing_platform.core.settings import default_settings
from pricing_platform.db import migrate, seed
from pricing_platform.localstack.ephemeral import BrokerProcess, PostgresProcess, free_port, server_root
from pricing_platform.localstack.postgres import LocalPostgres
from pricing_platform.simulation.run import SimulatedRun
from pricing_platform.simulators.market.shop import Market, MarketConfig
from pricing_platform.simulators.storefront import Storefront
from pricing_platform.topics import ensure_topics

PROJECT_ROOT = Path(__file__).resolve().parents[1]
console = Console()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def simulated_days(days: float, seed: int) -> tuple[float, float, int, int]:
    """(full path days/min, market-alone days/min, events, price changes the engine applied)."""
    settings = default_settings()
    sessions = settings.market_sessions_per_day
    started = time.monotonic()
    config = MarketConfig(sessions_per_day=sessions, scrapes_per_hour=settings.market_scrapes_per_hour)
    market = Market(seed, datetime.now(UTC) - timedelta(days=days), config)
    events = 0
    step = timedelta(minutes=settings.simulation_step_minutes)
    for index in range(round(timedelta(days=days) / step)):
        events += len(market.advance(market.start + step * (index + 1)))
    alone = days / ((time.monotonic() - started) / 60)
    with SimulatedRun(settings, seed=seed, days=days, sessions_per_day=sessions) as run:
        outcome = run.run(progress=True)
    return days / (outcome.wall_s / 60), alone, events, outcome.price_changes


def relay_and_latency(changes: int, approvals: int) -> dict[str, float]:
    root = server_root("pricing-bench-loop-")
    logs = root / "logs"
    logs.mkdir()
    postgres = PostgresProcess(LocalPostgres(root / "pg", free_port()), logs / "postgres.log")
    broker = BrokerProcess(free_port(), logs / "broker.log")
    postgres.start()
    broker.start()
    relay: subprocess.Popen | None = None
    try:
        postgres.server.ensure_role_and_database("pricing", "pricing")
        settings = default_settings().model_copy(
            update={"kafka_bootstrap_servers": broker.bootstrap, "price_feed_metrics_port": 0,
                    "price_feed_poll_interval_s": 0.2}
        )  # fmt: skip
        settings = settings.model_copy(update={"database_url": PostgresDsn(postgres.conninfo("pricing"))})
        migrate.upgrade(settings.database_conninfo)
        with psycopg.connect(settings.database_conninfo, autocommit=True) as conn:
            seed.seed_catalog(conn)
            ids = [p.product_id for p in PRODUCTS]
            for i in range(changes):
                price = Decimal(10_000 + i % 5000) / 100
                conn.execute(
                    "SELECT apply_price_change(%s, %s, 'bench', 'throughput')", (ids[i % len(ids)], price)
                )
            payloads = [
                (key, payload.encode())
                for key, payload in conn.execute(
                    "SELECT product_id, payload::text FROM price_change_outbox ORDER BY outbox_id"
                ).fetchall()
            ]
        ensure_topics(settings)
        # Baseline: the same messages produced straight to the topic.
        producer = Producer({**settings.kafka_common_config(), "enable.idempotence": True, "linger.ms": 5})
        started = time.monotonic()
        for key, value in payloads:
            while True:
                try:
                    producer.produce(PRICE_CHANGES_TOPIC.name, key=key, value=value)
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.flush(60)
        baseline = len(payloads) / (time.monotonic() - started)
        # The relay publishing the outbox.
        relay = subprocess.Popen(
            [sys.executable, "-m", "pricing_platform", "relay", "--relay-id", "bench", "--metrics-port", "0"],
            cwd=PROJECT_ROOT, env=settings.environment(), stdout=(logs / "relay.log").open("ab"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        with psycopg.connect(settings.database_conninfo, autocommit=True) as conn:
            query = "SELECT count(*) FROM price_change_outbox WHERE published_at IS NULL"
            while conn.execute(query).fetchone()[0]:  # type: ignore[index]
                time.sleep(0.05)
            # From the first marked batch to the last: the rows after the first batch over that span.
            after_first, span = conn.execute(
                "WITH o AS (SELECT published_at, min(published_at) OVER () AS first "
                "           FROM price_change_outbox) "
                "SELECT count(*) FILTER (WHERE published_at > first), "
                "       extract(epoch FROM max(published_at) - min(first)) FROM o"
            ).fetchone()  # type: ignore[misc]
            if not span:
                raise RuntimeError(
                    f"every outbox row was marked at the same instant ({after_first} after the first): no "
                    f"span to time the relay over; see {logs / 'relay.log'}"
                )
            relayed = after_first / float(span)
            # Approval → storefront, one at a time.
            applied: dict[int, float] = {}
            front = Storefront(
                settings, lambda a: applied.setdefault(a.version, time.monotonic()), client_id="bench-front"
            )
            front.catch_up(60)
            latencies, transactions = [], []
            for i in range(approvals):
                applied.clear()
                price = Decimal(20_000 + i) / 100
                sent = time.monotonic()
                version = conn.execute(
                    "SELECT version FROM apply_price_change('P001', %s, 'bench', 'latency')", (price,)
                ).fetchone()[0]  # type: ignore[index]
                transactions.append(time.monotonic() - sent)
                while version not in applied:
                    front.poll(0.005)
                latencies.append(applied[version] - sent)
            front.close()
        return {
            "baseline_msgs_s": baseline,
            "relay_msgs_s": relayed,
            "approval_p50": statistics.median(transactions),
            "approval_p99": percentile(transactions, 0.99),
            "storefront_p50": statistics.median(latencies),
            "storefront_p99": percentile(latencies, 0.99),
        }
    finally:
        if relay is not None:
            relay.terminate()
            relay.wait(timeout=15)
        broker.stop()
        postgres.stop()


def main(
    days: Annotated[float, typer.Option(help="simulated days of the speed run (0: skip it)")] = 14,
    changes: Annotated[int, typer.Option(help="price changes for the relay's throughput")] = 20_000,
    approvals: Annotated[int, typer.Option(help="approvals timed to the storefront")] = 300,
    seed: Annotated[int | None, typer.Option(help="the market's seed (default: drawn, printed)")] = None,
) -> None:
    seed = seed if seed is not None else secrets.randbits(32)
    table = Table("measure", "value", "baseline (same run)", title=f"closed loop, seed {seed}")
    if days:
        full, alone, events, changes = simulated_days(days, seed)
        table.add_row(f"simulated days per wall-clock minute ({days:g} days, {events:,} events)",
                      f"{full:.2f} ({days / full:.1f} min for {days:g} days; {changes:,} price changes "
                      "applied)",
                      f"{alone:.2f} (the market alone)")  # fmt: skip
    figures = relay_and_latency(changes, approvals)
    table.add_row("relay throughput, outbox → broker", f"{figures['relay_msgs_s']:,.0f} changes/s",
                  f"{figures['baseline_msgs_s']:,.0f} msgs/s (one producer, same messages)")  # fmt: skip
    table.add_row("approval → storefront, p50 / p99",
                  f"{figures['storefront_p50'] * 1000:.0f} / {figures['storefront_p99'] * 1000:.0f} ms",
                  f"{figures['approval_p50'] * 1000:.1f} / {figures['approval_p99'] * 1000:.1f} ms "
                  "(the approval transaction)")  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
