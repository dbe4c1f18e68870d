"""Local S3 endpoint: a full listing of a topic partition, what the broker asks for on every fetch that finds
new data, with the stack's listing index against s3rver's own listing in the same run.

Two s3rver processes serve one directory: the stack's (listing-index.js preloaded) and the baseline (the
same server without it). Batches of `--size` bytes are PUT into one partition's `records/` directory
through the stack's endpoint, and at each `--objects` count both endpoints list the whole directory the
way the broker does (ListObjectsV2, pages of 1000), `--rounds` times each, interleaved. Printed per count:
the median wall time of one full listing and the endpoint's CPU time for it (psutil, its process).

    python benchmarks/local_s3_listing.py [--objects 1000 --objects 4000 --objects 8000] [--rounds 5]
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path
from typing import Annotated, Any

import psutil
import typer
from rich.console import Console
from rich.table import Table

from pricing_platform.localstack import s3
from pricing_platform.localstack.ephemeral import S3rverProcess, free_port, server_root

BUCKET = "tansu"
RECORDS = "clusters/tansu_cluster/topics/raw.clickstream/partitions/0000000000/records/"
console = Console()


def full_listing(client: Any) -> int:
    keys = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=RECORDS):
        keys += len(page.get("Contents", []))
    return keys


def timed_listing(client: Any, server: psutil.Process, expected: int) -> tuple[float, float]:
    cpu = sum(server.cpu_times()[:2])
    started = time.perf_counter()
    keys = full_listing(client)
    wall = time.perf_counter() - started
    if keys != expected:
        raise RuntimeError(f"listed {keys:,} objects, expected {expected:,}")
    return wall, sum(server.cpu_times()[:2]) - cpu


def main(
    objects: Annotated[list[int] | None, typer.Option(help="objects in the partition at each step")] = None,
    rounds: Annotated[int, typer.Option(min=1, help="listings per endpoint at each step")] = 5,
    size: Annotated[int, typer.Option(min=1, help="bytes per batch object")] = 2048,
) -> None:
    steps = sorted(objects or [1000, 4000, 8000])
    root = server_root("pricing-s3-listing-")
    logs = Path("test-artifacts/benchmark")
    logs.mkdir(parents=True, exist_ok=True)
    indexed = S3rverProcess(free_port(), root / "s3", logs / "s3rver-indexed.log")
    plain = S3rverProcess(free_port(), root / "s3", logs / "s3rver-plain.log", listing_index=False)
    table = Table(title="full listing of one partition's batches (ListObjectsV2, pages of 1000)")
    columns = ("objects", "s3rver: wall", "CPU", "with the index: wall", "CPU", "wall ratio", "CPU ratio")
    for column in columns:
        table.add_column(column, justify="right")
    try:
        indexed.start(BUCKET)
        plain.start()
        writer = s3.client(indexed.endpoint)
        clients = {"plain": s3.client(plain.endpoint), "indexed": writer}
        processes = {name: psutil.Process(server.process.pid) for name, server in (("plain", plain),
                     ("indexed", indexed))}  # fmt: skip
        body, stored = b"b" * size, 0
        for step in steps:
            with console.status(f"putting objects up to {step:,}"):
                while stored < step:
                    writer.put_object(Bucket=BUCKET, Key=f"{RECORDS}{stored:020d}.batch", Body=body)
                    stored += 1
            times: dict[str, list[tuple[float, float]]] = {"plain": [], "indexed": []}
            for name in times:  # warm both (the index reads the directory once)
                timed_listing(clients[name], processes[name], stored)
            with console.status(f"listing {stored:,} objects"):
                for _ in range(rounds):
                    for name in times:
                        times[name].append(timed_listing(clients[name], processes[name], stored))
            wall = {name: statistics.median(t for t, _ in runs) for name, runs in times.items()}
            cpu = {name: statistics.median(c for _, c in runs) for name, runs in times.items()}
            table.add_row(
                f"{stored:,}",
                f"{wall['plain'] * 1000:,.0f} ms",
                f"{cpu['plain'] * 1000:,.0f} ms",
                f"{wall['indexed'] * 1000:,.1f} ms",
                f"{cpu['indexed'] * 1000:,.1f} ms",
                f"{wall['indexed'] / wall['plain']:.3f}",
                f"{cpu['indexed'] / cpu['plain']:.3f}" if cpu["plain"] else "n/a",
            )
    finally:
        indexed.stop()
        plain.stop()
        shutil.rmtree(root, ignore_errors=True)
    console.print(table)
    console.print(f"medians of {rounds} listings per endpoint and step, interleaved; {size:,}-byte objects")


if __name__ == "__main__":
    typer.run(main)
