"""Stream-processor benchmark: clickstream events/s through the Quix Streams application (validation,
re-keying by session, session windows, abandonments, per-minute funnel windows) in one process, beside an
ingest worker on the same events in the same run.

Starts its own PostgreSQL and Tansu broker on free loopback ports. Each round floods `raw.clickstream`
with N simulated events, then runs (one after the other, on the same topic):

1. baseline  — one clickstream ingest worker: the full exactly-once path into PostgreSQL;
2. processor — one stream processor: both of its stages, until it has committed the whole input and the
               re-keyed topic stops moving.

Rates are from the first to the last committed progress sample. The report gives the median of the
per-round ratios (the machine is shared; each round has its own baseline).

    python benchmarks/stream_processor.py [--events 200000] [--rounds 2]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from pathlib import Path

import typer
from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.table import Table

from pricing_platform.core.catalog import CLICKS_BY_SESSION_TOPIC, TOPICS, Stream
from pricing_platform.core.settings import Settings
from pricing_platform.localstack.ephemeral import server_root
from pricing_platform.streaming.processor import processor_group
from pricing_platform.topics import ensure_topics

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_throughput import (
    bench_settings,
    generate,
    measure_throughput,
    peak_rss_mib,
    produce_all,
    reset_topic,
    servers,
    start_servers,
)

from tests.support.workers import PlatformProcess

console = Console()
RAW = TOPICS[Stream.CLICKSTREAM]


def committed(settings: Settings, topic: str, partitions: int) -> int:
    consumer = Consumer({**settings.kafka_common_config(), "group.id": processor_group(settings)})
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in offsets)
    finally:
        consumer.close()


def measure_processor(settings: Settings, total: int, log_dir: Path) -> tuple[float, float]:
    """events/s through both stages, and the process's peak RSS (MiB)."""
    process = PlatformProcess(
        ["stream-processor", "--processor-id", f"bench-{settings.kafka_group_prefix}"],
        settings, log_dir, f"processor-{settings.kafka_group_prefix}",
    ).start()  # fmt: skip
    try:
        samples: list[tuple[float, int]] = []
        rekeyed: list[tuple[float, int]] = []
        deadline = time.monotonic() + 900
        while True:
            now = time.monotonic()
            done = committed(settings, RAW.name, RAW.partitions)
            forwarded = committed(settings, CLICKS_BY_SESSION_TOPIC.name, CLICKS_BY_SESSION_TOPIC.partitions)
            if done:
                samples.append((now, done))
            if not rekeyed or forwarded != rekeyed[-1][1]:
                rekeyed.append((now, forwarded))
            # Done: the whole input committed, and the re-keyed topic's position still for 3 s.
            if done >= total and now - rekeyed[-1][0] > 3:
                break
            if now > deadline or not process.alive():
                raise RuntimeError(f"processor stalled at {done:,}/{total:,}: see {process.log_path}")
            time.sleep(0.5)
        start = samples[0][0]
        end = max(rekeyed[-1][0], next(t for t, n in samples if n >= total))
        memory = peak_rss_mib(process.process.pid)  # type: ignore[union-attr]
        return (total - samples[0][1]) / (end - start), memory
    finally:
        process.terminate(60)


def main(
    events: int = typer.Option(200_000, help="events to flood each round"),
    rounds: int = typer.Option(2, min=1, help="interleaved rounds (ingest worker, then processor)"),
) -> None:
    root = server_root("pricing-bench-stream-")
    log_dir = Path("test-artifacts/benchmark-stream")
    log_dir.mkdir(parents=True, exist_ok=True)
    pg, broker = servers(root, log_dir)
    results: list[tuple[float, float, float, float]] = []
    try:
        with console.status("starting PostgreSQL and the broker"):
            start_servers(pg, broker)

        def fresh(name: str) -> Settings:
            state = root / "stream-state" / name
            return bench_settings(pg, broker, root, name, stream_metrics_port=0, stream_state_dir=state)

        with console.status(f"generating {events:,} simulated clickstream events"):
            data = generate(events, seed=7)
        for r in range(1, rounds + 1):
            settings = fresh(f"bench_stream_{r}")
            reset_topic(settings)
            ensure_topics(settings)
            with console.status(f"round {r}/{rounds} · flooding {RAW.name} with {events:,} events"):
                produce_all(settings, data)
            with console.status(f"round {r}/{rounds} · baseline: one ingest worker"):
                worker_rate, worker_memory = measure_throughput(settings, events, 1, log_dir)
            with console.status(f"round {r}/{rounds} · the stream processor"):
                rate, memory = measure_processor(settings, events, log_dir)
            results.append((worker_rate, rate, worker_memory[0], memory))
            console.print(
                f"round {r}: ingest worker {worker_rate:,.0f} events/s · processor {rate:,.0f} events/s "
                f"({rate / worker_rate:.2f}×)"
            )
    finally:
        broker.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)

    table = Table("measure", "median of rounds", "rounds",
                  title=f"stream processor · {rounds} round(s) of {events:,} clickstream events")  # fmt: skip
    workers = [w for w, *_ in results]
    rates = [p for _, p, *_ in results]
    ratios = [p / w for w, p, *_ in results]
    table.add_row(
        "baseline: one ingest worker (exactly-once into PostgreSQL)",
        f"{statistics.median(workers):,.0f} events/s",
        " · ".join(f"{w:,.0f}" for w in workers),
    )
    table.add_row(
        "stream processor, one process (sessions, abandonments, funnel minutes)",
        f"{statistics.median(rates):,.0f} events/s · {statistics.median(ratios):.2f}× the worker",
        " · ".join(f"{p:,.0f} ({q:.2f}×)" for p, q in zip(rates, ratios, strict=True)),
    )
    table.add_row("  peak RSS: worker / processor", f"{max(r[2] for r in results):,.0f} / "
                  f"{max(r[3] for r in results):,.0f} MiB", "")  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
