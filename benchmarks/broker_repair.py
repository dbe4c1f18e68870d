"""The durable broker's start: the storage repair that runs before Tansu listens (`topics broker`), on a
store the size a demo day leaves, against one walk of the whole topics prefix in the same run (what each
of the repair's two passes was before it listed partition by partition).

One s3rver (the stack's, with its listing index) gets `--batches` record-batch objects in each clickstream
partition and a twentieth of that in every other topic's (each with a valid batch header, and a watermark
per partition, as the broker writes them); the soak's demo day left about 5,500 per clickstream partition.
Printed: wall time and the endpoint's CPU time (psutil, its process) of one listing of the whole prefix
and of `repair_storage`, medians of `--rounds`, interleaved.

    python benchmarks/broker_repair.py [--batches 5000] [--rounds 3]
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import psutil
import typer
from rich.console import Console
from rich.table import Table

from pricing_platform.core.catalog import ALL_TOPICS, TOPICS, Stream
from pricing_platform.localstack import s3
from pricing_platform.localstack.broker import BATCH_HEADER_BYTES, TOPICS_PREFIX, repair_storage
from pricing_platform.localstack.ephemeral import S3rverProcess, free_port, server_root

BUCKET = "tansu"
console = Console()


def batch(records: int) -> bytes:
    """A batch header whose last offset delta says `records` records, padded to a small batch's size."""
    header = bytearray(BATCH_HEADER_BYTES)
    header[23:27] = (records - 1).to_bytes(4, "big")
    return bytes(header) + b"r" * 1500


def populate(endpoint: str, batches: int) -> int:
    """`batches` in each clickstream partition and a twentieth of that in the others' (the soak's shape:
    the clickstream is 98 % of the events); the partitions filled."""
    partitions = {
        f"{TOPICS_PREFIX}{topic.name}/partitions/{number:010d}/": (
            batches if topic.name == TOPICS[Stream.CLICKSTREAM].name else max(1, batches // 20)
        )
        for topic in ALL_TOPICS
        for number in range(topic.partitions)
    }
    body = batch(10)

    def fill(partition: str) -> None:
        client = s3.client(endpoint)
        count = partitions[partition]
        for i in range(count):
            client.put_object(Bucket=BUCKET, Key=f"{partition}records/{i * 10:020d}.batch", Body=body)
        watermark = {"low": 0, "high": count * 10, "timestamps": None}
        client.put_object(
            Bucket=BUCKET, Key=f"{partition}watermark.json", Body=json.dumps(watermark).encode()
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(fill, partitions))
    return sum(partitions.values())


def whole_prefix_listing(client: Any) -> None:
    for _ in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=TOPICS_PREFIX):
        pass


def timed(action: Any, server: psutil.Process) -> tuple[float, float]:
    cpu = sum(server.cpu_times()[:2])
    started = time.perf_counter()
    action()
    return time.perf_counter() - started, sum(server.cpu_times()[:2]) - cpu


def main(
    batches: Annotated[int, typer.Option(min=1, help="batch objects per partition")] = 5000,
    rounds: Annotated[int, typer.Option(min=1, help="timed runs of each")] = 3,
) -> None:
    root = server_root("pricing-broker-repair-")
    logs = Path("test-artifacts/benchmark")
    logs.mkdir(parents=True, exist_ok=True)
    server = S3rverProcess(free_port(), root / "s3", logs / "s3rver-repair.log")
    try:
        server.start(BUCKET)
        with console.status(f"putting {batches:,} batches into every partition"):
            started = time.perf_counter()
            objects = populate(server.endpoint, batches)
            filled = time.perf_counter() - started
        client, process = s3.client(server.endpoint), psutil.Process(server.process.pid)
        if done := repair_storage(client, BUCKET):
            raise RuntimeError(f"the store was written whole, yet the repair did: {done}")
        runs: dict[str, list[tuple[float, float]]] = {"walk": [], "repair": []}
        with console.status("timing"):
            for _ in range(rounds):
                runs["walk"].append(timed(lambda: whole_prefix_listing(client), process))
                runs["repair"].append(timed(lambda: repair_storage(client, BUCKET), process))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    table = Table(
        title=f"{objects:,} batch objects, {batches:,} per clickstream partition (put in {filled:.0f} s)"
    )
    for column in ("measure", "wall (median)", "endpoint CPU (median)", "wall vs baseline"):
        table.add_column(column, justify="right")
    wall = {name: statistics.median(w for w, _ in r) for name, r in runs.items()}
    cpu = {name: statistics.median(c for _, c in r) for name, r in runs.items()}
    table.add_row("baseline: one listing of the whole topics prefix", f"{wall['walk']:.2f} s",
                  f"{cpu['walk']:.2f} s", "1.00")  # fmt: skip
    table.add_row("repair_storage (partition by partition)", f"{wall['repair']:.2f} s",
                  f"{cpu['repair']:.2f} s", f"{wall['repair'] / wall['walk']:.3f}")  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
