"""Ingest benchmark: clickstream events through the full exactly-once path, against a baseline.

Starts its own PostgreSQL and Tansu broker on free loopback ports, then:

1. baseline  — the same rows COPYed straight into `clickstream_events` (same indexes), 20k rows a batch:
               the database's own ceiling on this machine.
2. throughput — floods `raw.clickstream` with N simulated events, starts W ingest worker processes and
               measures sustained events/s from first to last committed batch, plus each worker's peak RSS.
3. latency   — workers running, the simulator produces at a fixed rate; the benchmark polls for newly
               visible rows every 50 ms and reports event → visible-row latency percentiles.

Throughput is measured in `--rounds` interleaved rounds (default 3): each round measures its own baseline
and then each worker count, and the report gives the median of the per-round ratios, because the machine
is shared and the baseline alone moves ±15 % between runs.

    python benchmarks/ingest_throughput.py [--events 1000000] [--workers 1,2] [--rounds 3]
                                           [--latency-rate 20000]
"""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import typer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from ingest_workers.sinks import ClickstreamSink
from pricing_platform.core.catalog import TOPICS, Stream
from pricing_platform.core.events import ENCODER
from pricing_platform.core.settings import Settings
from pricing_platform.db import migrate, seed
from pricing_platform.localstack.ephemeral import BrokerProcess, PostgresProcess, free_port, server_root
from pricing_platform.localstack.postgres import LocalPostgres
from pricing_platform.simulators.clickstream import ClickstreamGenerator
from pricing_platform.simulators.run import producer_config
from pricing_platform.topics import ensure_topics

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.workers import WorkerProcess

console = Console()
TOPIC = TOPICS[Stream.CLICKSTREAM].name


def generate(n: int, seed: int) -> list:
    return [event for _, _, event in itertools.islice(ClickstreamGenerator(seed), n)]


def send(producer: Producer, key: bytes, event: object) -> None:
    """Produce, waiting for room when the client's queue is full (a flood outruns the broker)."""
    while True:
        try:
            producer.produce(TOPIC, ENCODER.encode(event), key)
            return
        except BufferError:
            producer.poll(0.01)


def produce_all(settings: Settings, events: list) -> float:
    producer = Producer(producer_config(settings))
    started = time.perf_counter()
    for event in events:
        send(producer, (event.product_id or str(event.session_id)).encode(), event)
    if producer.flush(120):
        raise RuntimeError("events left undelivered")
    return time.perf_counter() - started


def baseline_copy(conninfo: str, events: list, batch: int = 20_000) -> float:
    import msgspec

    rows = [msgspec.structs.astuple(e) for e in events]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            with conn.transaction(), conn.cursor() as cur, cur.copy(ClickstreamSink.COPY) as copy:
                copy.set_types(ClickstreamSink.COPY_TYPES)
                for row in rows[start : start + batch]:
                    copy.write_row(row)
        return time.perf_counter() - started


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def consumed(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        return int(conn.execute("SELECT coalesce(sum(next_offset), 0) FROM ingest_offsets").fetchone()[0])


def run_workers(settings: Settings, count: int, log_dir: Path) -> list[WorkerProcess]:
    return [
        WorkerProcess(Stream.CLICKSTREAM, settings, log_dir, f"bench-worker-{i}").start()
        for i in range(count)
    ]


def measure_throughput(
    settings: Settings, total: int, workers: int, log_dir: Path
) -> tuple[float, list[float]]:
    procs = run_workers(settings, workers, log_dir)
    db = settings.database_conninfo
    try:
        samples: list[tuple[float, int]] = []
        deadline = time.monotonic() + 600
        while True:
            now, done = time.monotonic(), consumed(db)
            if done:
                samples.append((now, done))
            if done >= total:
                break
            if time.monotonic() > deadline or not all(p.alive() for p in procs):
                raise RuntimeError(f"workers stalled at {done:,}/{total:,}: see {log_dir}")
            time.sleep(0.05)
        (t0, n0), (t1, n1) = samples[0], samples[-1]
        rate = (n1 - n0) / (t1 - t0)
        memory = [peak_rss_mib(p.process.pid) for p in procs]  # type: ignore[union-attr]
    finally:
        for p in procs:
            p.terminate()
    return rate, memory


def measure_latency(
    settings: Settings, rate: int, seconds: int, workers: int, log_dir: Path, warmup_s: int = 2
) -> list[float]:
    """Event timestamp → row visible to a reader, for events produced at `rate` per second.

    The first `warmup_s` seconds of events (first fetches, connection set-up) are produced at the same rate
    but left out of the figures."""
    procs = run_workers(settings, workers, log_dir)
    db = settings.database_conninfo
    latencies: list[float] = []
    try:
        time.sleep(8)  # let the group settle: first join takes about half the session timeout
        done = threading.Event()
        total = rate * (seconds + warmup_s)
        measure_from = datetime.now(UTC) + timedelta(seconds=warmup_s)

        def paced_producer() -> None:
            producer = Producer(producer_config(settings))
            generator = ClickstreamGenerator(7)
            started = time.perf_counter()
            for i in range(total):
                _, key, event = next(generator)
                send(producer, key, event)
                if i % 500 == 0:
                    producer.poll(0)
                    ahead = i / rate - (time.perf_counter() - started)
                    if ahead > 0:
                        time.sleep(ahead)
            producer.flush(60)
            done.set()

        thread = threading.Thread(target=paced_producer)
        thread.start()
        # One writer transaction at a time per worker: a batch's ingested_at (its transaction start) is
        # later than every batch committed before it, so "ingested_at > newest seen" finds each row once.
        last_seen = datetime(1970, 1, 1, tzinfo=UTC)
        with psycopg.connect(db, autocommit=True) as conn:
            while True:
                finished = done.is_set() and consumed(db) >= total
                rows = conn.execute(
                    "SELECT ingested_at, event_time FROM clickstream_events "
                    "WHERE event_time > now() - interval '30 seconds' AND ingested_at > %s",
                    (last_seen,),
                ).fetchall()
                seen_at = datetime.now(UTC)
                for ingested_at, event_time in rows:
                    if event_time >= measure_from:
                        latencies.append((seen_at - event_time).total_seconds())
                    last_seen = max(last_seen, ingested_at)
                if finished and not rows:
                    break
                time.sleep(0.05)
        thread.join()
    finally:
        for p in procs:
            p.terminate()
    return latencies


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]
        if len(values) > 1
        else 0.0
    )


def servers(root: Path, log_dir: Path) -> tuple[PostgresProcess, BrokerProcess]:
    pg = PostgresProcess(LocalPostgres(root / "pg", free_port()), log_dir / "postgres.log")
    return pg, BrokerProcess(free_port(), log_dir / "broker.log")


def start_servers(pg: PostgresProcess, broker: BrokerProcess) -> None:
    """Start both; database `bench_template` migrated with the catalog, for `create_database`."""
    pg.start()
    broker.start()
    pg.server.ensure_role_and_database("pricing", "bench_template")
    template = pg.conninfo("bench_template")
    migrate.upgrade(template)
    with psycopg.connect(template) as conn:
        seed.seed_catalog(conn)


def bench_settings(
    pg: PostgresProcess, broker: BrokerProcess, root: Path, name: str, **overrides: object
) -> Settings:
    """Settings for one measurement: its own database (from the template) and consumer groups."""
    return Settings(
        kafka_bootstrap_servers=broker.bootstrap,
        database_url=pg.create_database(name, template="bench_template"),
        kafka_group_prefix=name,
        ingest_metrics_port=0,
        local_state_dir=root / "state",
        **overrides,
    )


def reset_topic(settings: Settings) -> None:
    """Each run starts from an empty topic."""
    admin = AdminClient(settings.kafka_common_config())
    if TOPIC in admin.list_topics(timeout=10).topics:
        for future in admin.delete_topics([TOPIC], operation_timeout=10).values():
            future.result()
    ensure_topics(settings)


@dataclass
class Round:
    baseline: float  # rows/s
    runs: dict[int, tuple[float, float, list[float]]]  # workers → (flood rate, events/s, peak RSS MiB each)

    def ratio(self, workers: int) -> float:
        return self.runs[workers][1] / self.baseline


def main(
    events: int = typer.Option(1_000_000, help="events to flood for each throughput run"),
    workers: str = typer.Option("1,2", help="worker-process counts to measure, comma-separated"),
    rounds: int = typer.Option(3, min=1, help="interleaved rounds (baseline, then each worker count)"),
    latency_rate: int = typer.Option(20_000, help="events/s produced during the latency run"),
    latency_seconds: int = typer.Option(20, help="length of the latency run (after a 2 s warm-up)"),
    latency_workers: int = typer.Option(1, help="worker processes during the latency run"),
    batch_size: int = typer.Option(20_000, help="INGEST_BATCH_SIZE for the workers"),
) -> None:
    worker_counts = [int(w) for w in workers.split(",")]
    root = server_root("pricing-bench-")
    log_dir = Path("test-artifacts/benchmark")
    log_dir.mkdir(parents=True, exist_ok=True)
    pg, broker = servers(root, log_dir)
    results: list[Round] = []
    try:
        with console.status("starting PostgreSQL and the broker"):
            start_servers(pg, broker)

        def fresh(name: str) -> Settings:
            return bench_settings(pg, broker, root, name, ingest_batch_size=batch_size)

        with console.status(f"generating {events:,} simulated clickstream events"):
            data = generate(events, seed=42)
        # The machine is shared and the baseline moves ±15 % between runs: every round measures its own
        # baseline right before its worker runs, and the ratios are taken within a round.
        for r in range(1, rounds + 1):
            with console.status(f"round {r}/{rounds} · baseline: COPY straight into PostgreSQL"):
                seconds = baseline_copy(fresh(f"bench_baseline_{r}").database_conninfo, data)
            current = Round(events / seconds, {})
            for count in worker_counts:
                settings = fresh(f"bench_throughput_{r}_{count}")
                reset_topic(settings)
                with console.status(f"round {r}/{rounds} · flooding {TOPIC} with {events:,} events"):
                    produce_rate = events / produce_all(settings, data)
                with console.status(f"round {r}/{rounds} · ingesting with {count} worker(s)"):
                    rate, memory = measure_throughput(settings, events, count, log_dir)
                current.runs[count] = (produce_rate, rate, memory)
            results.append(current)
            console.print(
                f"round {r}: baseline {current.baseline:,.0f} rows/s · "
                + " · ".join(
                    f"{count} worker(s) {current.runs[count][1]:,.0f} events/s ({current.ratio(count):.2f}×)"
                    for count in worker_counts
                )
            )
        del data

        latency_settings = fresh("bench_latency")
        reset_topic(latency_settings)
        with console.status(f"latency run: {latency_rate:,} events/s for {latency_seconds}s"):
            latencies = measure_latency(
                latency_settings, latency_rate, latency_seconds, latency_workers, log_dir
            )
    finally:
        broker.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)

    table = Table(
        "measure",
        "median of rounds",
        "rounds",
        title=f"ingest benchmark · {os.cpu_count()} cores · batch {batch_size:,} · {rounds} interleaved "
        f"round(s) of {events:,} events",
    )
    baselines = [r.baseline for r in results]
    table.add_row(
        "baseline: the same rows COPYed straight in",
        f"{statistics.median(baselines):,.0f} rows/s",
        " · ".join(f"{b:,.0f}" for b in baselines),
    )
    for count in worker_counts:
        rates = [r.runs[count][1] for r in results]
        ratios = [r.ratio(count) for r in results]
        table.add_row(
            f"full exactly-once path, {count} worker process(es)",
            f"{statistics.median(rates):,.0f} events/s · {statistics.median(ratios):.2f}× baseline",
            " · ".join(f"{rate:,.0f} ({ratio:.2f}×)" for rate, ratio in zip(rates, ratios, strict=True)),
        )
        memory = [m for r in results for m in r.runs[count][2]]
        table.add_row("  peak RSS per worker (max)", f"{max(memory):,.0f} MiB", "")
        floods = [r.runs[count][0] for r in results]
        table.add_row("  flood producer rate (reference)", f"{statistics.median(floods):,.0f} events/s", "")
    if latencies:
        table.add_row(
            f"event → visible row, {latency_rate:,}/s, {latency_workers} worker(s), {len(latencies):,} rows",
            " · ".join(
                f"{name} {value * 1000:,.0f} ms"
                for name, value in (
                    ("p50", percentile(latencies, 0.5)),
                    ("p99", percentile(latencies, 0.99)),
                    ("max", max(latencies)),
                )
            ),
            "",
        )
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
