"""Simulated time: the market on a fast clock through the platform's real paths.

`SimulatedRun` starts its own PostgreSQL and broker (throwaway, on free loopback ports, so a run never
mixes with the live stack's data), the three ingest workers and a price-feed relay as the processes `up`
runs, and the market with its storefront in this process. Each step of simulated time (`step`, 15
simulated minutes by default):

1. the market produces the step's events to the raw topics (timestamps in simulated time, which starts
   `days` before the real clock and never passes it, so ingest's future-timestamp rule holds);
2. a barrier waits until the workers' stored positions in PostgreSQL cover everything produced;
3. every `estimate_every` (when set) the demand estimates are refreshed as of the step's end, as the
   hourly asset does live; running price experiments get their stopping rule and the arm due at the
   step's end (`run_experiments`, as their sensor does live; steps end on round clock times, where
   blocks switch); then the pricing engine runs one cycle as of the step's end
   (`run_cycle(..., now=...)`), with the engine's recommendations applied automatically through
   `approve_recommendation`, the audited path an analyst's approval takes (its transaction writes the
   outbox);
4. the relay publishes the changes and the storefront applies them before the next step's events.

So a price set at step k is the price shoppers see from step k+1 on, exactly as in the live stack, only
faster. Deterministic under `--seed` (same events and decisions; ids and landing times differ).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Final

import psycopg
from confluent_kafka import KafkaError, Message, Producer
from psycopg import sql
from pydantic import PostgresDsn
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from pricing_platform.core import tables
from pricing_platform.core.catalog import TOPICS, Stream, consumer_group
from pricing_platform.core.events import ENCODER
from pricing_platform.core.settings import PROJECT_ROOT, Settings
from pricing_platform.db import migrate, seed
from pricing_platform.localstack.ephemeral import BrokerProcess, PostgresProcess, free_port, server_root
from pricing_platform.localstack.postgres import LocalPostgres
from pricing_platform.pricing.cycle import CycleSummary, run_cycle
from pricing_platform.pricing.demand import DemandParams
from pricing_platform.pricing.demand_store import refresh_estimates
from pricing_platform.pricing.experiment_store import enforce_stopping_rule, run_due
from pricing_platform.pricing.experiments import ExperimentParams
from pricing_platform.pricing.rules import PricingRules
from pricing_platform.simulators.market.shop import Market, MarketConfig
from pricing_platform.simulators.market.truth import write_truth
from pricing_platform.simulators.run import producer_config
from pricing_platform.simulators.storefront import AppliedPrice, Storefront
from pricing_platform.topics import ensure_topics

log = logging.getLogger(__name__)

DATABASE: Final = "pricing"
BARRIER_TIMEOUT_S: Final = 120.0
APPLIED_BY: Final = "simulation"

# What decides, each step, which recommendations become prices: by default every raise and lower.
ApplyPolicy = Callable[[psycopg.Connection, CycleSummary], list[int]]

_APPLY_SQL = sql.SQL(
    "SELECT r.recommendation_id FROM {recs} r WHERE r.cycle_id = %s AND r.recommendation <> 'hold' "
    "ORDER BY r.product_id"
).format(recs=sql.Identifier(tables.PRICING_RECOMMENDATIONS))
_VERSIONS_SQL = sql.SQL("SELECT product_id, price_version FROM {}").format(sql.Identifier(tables.PRODUCTS))
_POSITIONS_SQL = sql.SQL(
    "SELECT topic, partition, next_offset FROM {offsets} WHERE consumer_group = ANY(%s)"
).format(offsets=sql.Identifier(tables.INGEST_OFFSETS))


def apply_every_move(conn: psycopg.Connection, cycle: CycleSummary) -> list[int]:
    return [row[0] for row in conn.execute(_APPLY_SQL, (cycle.cycle_id,)).fetchall()]


def apply_nothing(conn: psycopg.Connection, cycle: CycleSummary) -> list[int]:
    """Prices stay as they are (a static-price run, or a test that moves prices itself)."""
    return []


@dataclass
class SimulationOutcome:
    seed: int
    days: float
    sessions_per_day: float
    start: datetime
    wall_s: float = 0.0
    steps: int = 0
    events: dict[str, int] = field(default_factory=dict)
    price_changes: int = 0
    experiments_stopped: int = 0
    lost_to_stockout: int = 0
    database_url: str | None = None

    def table(self) -> Table:
        table = Table("measure", "value", title=f"simulated market, --seed {self.seed}")
        table.add_row("simulated days", f"{self.days:g} (from {self.start:%Y-%m-%d %H:%M} UTC)")
        table.add_row("sessions per day", f"{self.sessions_per_day:,.0f}")
        for stream, count in self.events.items():
            table.add_row(f"events: {stream}", f"{count:,}")
        table.add_row("pricing cycles", f"{self.steps:,}")
        table.add_row("price changes applied", f"{self.price_changes:,}")
        table.add_row("purchases lost to stock-outs", f"{self.lost_to_stockout:,}")
        table.add_row(
            "wall-clock time", f"{self.wall_s:.1f} s ({self.days / (self.wall_s / 60):.2f} days/min)"
        )
        if self.database_url:
            table.add_row("database (kept)", self.database_url)
        return table


class SimulatedRun:
    def __init__(
        self,
        settings: Settings,
        *,
        seed: int,
        days: float,
        sessions_per_day: float,
        elasticity_scale: float = 1.0,
        rules: PricingRules | None = None,
        apply_policy: ApplyPolicy = apply_every_move,
        step: timedelta | None = None,
        workdir: Path | None = None,
        estimate_every: timedelta | None = None,
    ) -> None:
        self.seed = seed
        # The demand estimates, refreshed in simulated time (the live stack's asset runs hourly): None
        # leaves them as they are (none, so a profit strategy prices from the prior).
        self.estimate_every = estimate_every
        self.demand = DemandParams.from_settings(settings)
        self.experiments = ExperimentParams.from_settings(settings)
        self.days = days
        self.step = step or timedelta(minutes=settings.simulation_step_minutes)
        self.rules = rules or PricingRules.from_settings(settings)
        self.apply_policy = apply_policy
        # Steps end on round clock times (a multiple of the step since midnight), where experiment blocks
        # switch; the run never passes the real clock.
        begin = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)
        midnight = begin.replace(hour=0, minute=0, second=0)
        self.start = midnight + self.step * ((begin - midnight) // self.step)
        self.market = Market(
            seed,
            self.start,
            MarketConfig(
                sessions_per_day=sessions_per_day,
                scrapes_per_hour=settings.market_scrapes_per_hour,
                elasticity_scale=elasticity_scale,
            ),
        )
        self._base_settings = settings
        self._workdir = workdir
        self._stack = contextlib.ExitStack()
        self.settings: Settings = settings
        self.outcome = SimulationOutcome(seed, days, sessions_per_day, self.start)
        self._delivered: dict[tuple[str, int], int] = {}
        self._failures: list[str] = []
        self._pending_prices: list[AppliedPrice] = []

    # --- setting up ------------------------------------------------------------------------------------

    def __enter__(self) -> SimulatedRun:
        try:
            self._start_servers()
            self._start_processes()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start_servers(self) -> None:
        root = self._workdir or server_root("pricing-sim-")
        root.mkdir(parents=True, exist_ok=True)
        if self._workdir is None:  # ours: gone with the run (the stack closes in reverse order)
            self._stack.callback(shutil.rmtree, root, ignore_errors=True)
        logs = root / "logs"
        logs.mkdir(exist_ok=True)
        self.logs = logs
        postgres = PostgresProcess(LocalPostgres(root / "pg", free_port()), logs / "postgres.log")
        postgres.start()
        self._stack.callback(postgres.stop)
        postgres.server.ensure_role_and_database("pricing", DATABASE)
        broker = BrokerProcess(free_port(), logs / "broker.log")
        broker.start()
        self._stack.callback(broker.stop)
        self.settings = self._base_settings.model_copy(
            update={
                "database_url": PostgresDsn(postgres.conninfo(DATABASE)),
                "kafka_bootstrap_servers": broker.bootstrap,
                "kafka_group_prefix": f"sim-{self.seed}",
                # A step waits for ingest: short batch waits keep the barrier short.
                "ingest_batch_wait_ms": 20,
                "kafka_fetch_wait_max_ms": 10,
                "ingest_metrics_port": 0,
                "price_feed_metrics_port": 0,
                "price_feed_poll_interval_s": 0.2,
            }
        )
        migrate.upgrade(self.settings.database_conninfo)
        with psycopg.connect(self.settings.database_conninfo) as conn:
            seed.seed_catalog(conn)
        ensure_topics(self.settings)
        self.outcome.database_url = self.settings.database_conninfo

    def _start_processes(self) -> None:
        env = self.settings.environment()
        for stream in Stream:
            self._spawn(["ingest", stream.value, "--worker-id", f"sim-{stream.value}"], env, stream.value)
        self._spawn(["relay", "--relay-id", "sim-relay"], env, "relay")
        self.storefront = Storefront(self.settings, self._pending_prices.append, client_id="sim-storefront")
        self._stack.callback(self.storefront.close)
        self.storefront.catch_up()
        self.producer = Producer({**producer_config(self.settings), "linger.ms": 5})
        self._stack.callback(self._close_producer)
        self.conn = psycopg.connect(self.settings.database_conninfo, autocommit=True)
        self._stack.callback(self.conn.close)

    def _close_producer(self) -> None:
        self.producer.flush(10)
        # Destroyed now, before the broker stops: a live client would keep reconnecting to it.
        del self.producer

    def _spawn(self, args: list[str], env: dict[str, str], name: str) -> None:
        log_file = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "pricing_platform", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )

        def stop() -> None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
            log_file.close()

        self._stack.callback(stop)

    # --- running -----------------------------------------------------------------------------------------

    def run(self, progress: bool = True, write_truth_to: Path | None = None) -> SimulationOutcome:
        if write_truth_to is not None:
            write_truth(self.market, write_truth_to)
        total = max(1, round(timedelta(days=self.days) / self.step))
        started = time.monotonic()
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, disable=not progress, transient=False) as bar:
            task = bar.add_task("simulated steps", total=total)
            for index in range(total):
                self.run_step(self.start + self.step * (index + 1))
                bar.advance(task)
                bar.update(task, description=f"simulated {self.market.now:%Y-%m-%d %H:%M}")
        self.outcome.wall_s = time.monotonic() - started
        self.outcome.lost_to_stockout = sum(self.market.counters.lost_to_stockout)
        return self.outcome

    def run_step(self, until: datetime) -> CycleSummary:
        self._apply_pending_prices()
        events = self.market.advance(until)
        self._produce(events)
        self._barrier()
        if self.estimate_every and (until - self.start) % self.estimate_every == timedelta(0):
            refresh_estimates(self.conn, self.demand, until)
        # Price experiments as their sensor runs them live: the stopping rule, then the arms due now.
        self.outcome.experiments_stopped += len(enforce_stopping_rule(self.conn, self.experiments, until))
        self.outcome.price_changes += len(run_due(self.conn, until))
        cycle = run_cycle(self.conn, self.rules, now=until)
        self._apply(cycle)
        self._await_storefront(self._versions())
        self.outcome.steps += 1
        return cycle

    def _versions(self) -> dict[str, int]:
        return dict(self.conn.execute(_VERSIONS_SQL).fetchall())

    def _produce(self, events: list[tuple[Stream, bytes, object]]) -> None:
        topics = {s: TOPICS[s].name for s in Stream}
        encode = ENCODER.encode
        for stream, key, event in events:
            self.outcome.events[stream.value] = self.outcome.events.get(stream.value, 0) + 1
            while True:
                try:
                    self.producer.produce(
                        topics[stream], value=encode(event), key=key, on_delivery=self._delivered_to
                    )
                    break
                except BufferError:
                    self.producer.poll(0.05)
        self.producer.flush(60)
        if self._failures:
            raise RuntimeError(f"simulated events failed delivery: {self._failures[:3]}")

    def _delivered_to(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(str(err))
            return
        key = (msg.topic(), msg.partition())
        self._delivered[key] = max(self._delivered.get(key, -1), msg.offset())

    def _barrier(self) -> None:
        """Wait until the stored ingest positions cover every message produced so far."""
        groups = [consumer_group(s, self.settings.kafka_group_prefix) for s in Stream]
        deadline = time.monotonic() + BARRIER_TIMEOUT_S
        while True:
            positions = {(t, p): o for t, p, o in self.conn.execute(_POSITIONS_SQL, (groups,)).fetchall()}
            behind = {k: v for k, v in self._delivered.items() if positions.get(k, 0) <= v}
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"ingest did not catch up within {BARRIER_TIMEOUT_S:.0f} s: {behind}")
            time.sleep(0.01)

    def _apply(self, cycle: CycleSummary) -> None:
        """Apply the policy's recommendations (the storefront wait reads the versions they reach)."""
        for recommendation_id in self.apply_policy(self.conn, cycle):
            try:
                self.conn.execute(
                    "SELECT product_id FROM approve_recommendation(%s, %s)", (recommendation_id, APPLIED_BY)
                )
            except psycopg.Error as exc:  # a guard refused it (e.g. the margin floor moved): skip, log
                log.info("recommendation %s not applied: %s", recommendation_id, str(exc).splitlines()[0])
                continue
            self.outcome.price_changes += 1

    def _await_storefront(self, expected: dict[str, int], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while any(self.storefront.versions.get(p, 0) < v for p, v in expected.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the storefront did not apply {expected} within {timeout_s:.0f} s")
            self.storefront.poll(0.01)
        self.storefront.poll(0)
        self._apply_pending_prices()

    def _apply_pending_prices(self) -> None:
        for applied in self._pending_prices:
            self.market.set_price(applied.product_id, applied.price)
        self._pending_prices.clear()

    def set_price(self, product_id: str, price: Decimal, applied_by: str, reason: str) -> int:
        """Change a price through `apply_price_change` (audit row, outbox, relay) and wait until the
        storefront shows it; returns its version."""
        row = self.conn.execute(
            "SELECT version FROM apply_price_change(%s, %s, %s, %s)", (product_id, price, applied_by, reason)
        ).fetchone()
        assert row is not None
        self._await_storefront({product_id: row[0]})
        self.outcome.price_changes += 1
        return int(row[0])

    # --- reading results ---------------------------------------------------------------------------------

    def current_prices(self) -> dict[str, Decimal]:
        return dict(self.conn.execute("SELECT product_id, current_price FROM products").fetchall())


def simulate_days(
    settings: Settings,
    *,
    days: float,
    seed: int,
    sessions_per_day: float,
    truth_file: Path | None = None,
    progress: bool = True,
) -> SimulationOutcome:
    with SimulatedRun(settings, seed=seed, days=days, sessions_per_day=sessions_per_day) as run:
        outcome = run.run(progress=progress, write_truth_to=truth_file)
    outcome.database_url = None  # its servers stopped with the run
    return outcome


@contextlib.contextmanager
def simulated(settings: Settings, **kwargs: object) -> Iterator[SimulatedRun]:
    with SimulatedRun(settings, **kwargs) as run:  # type: ignore[arg-type]
        yield run
