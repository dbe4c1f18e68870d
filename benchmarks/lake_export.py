"""Lake export benchmark: one day of clickstream from PostgreSQL to Parquet, on S3 and on a local disk,
beside the bare database read of the same rows.

Starts its own PostgreSQL (free loopback port) and, unless `--s3-endpoint` names a running one (e.g. the
local stack's s3rver), its own moto_server (an in-memory S3 over HTTP); migrates a database and COPYs N
clickstream rows (default 3,000,000) with `event_time` spread over one UTC day, ~90 % with a price, then
measures, in `--rounds` interleaved rounds (default 3), in this process:

    baseline  `COPY (SELECT <the export's select list> …) TO STDOUT`, the bytes discarded: the read alone;
    export    `export_day` to a local directory;
    export    `export_day` to the S3 bucket;

and once, for reference, the previous export's read: a psycopg server-side cursor fetched in batches.
Each line gives the median rows/s, the median ratio to the same round's baseline, and the largest rise of
RSS while it ran (sampled every 20 ms) above the RSS before it; ru_maxrss of the process is printed at the
end. Seeding runs in a child process so as not to count.

    python benchmarks/lake_export.py [--rows 3000000] [--batch-rows 100000] [--rounds 3]
        [--s3-endpoint http://127.0.0.1:PORT --s3-name s3rver --s3-key S3RVER --s3-secret S3RVER]
"""

from __future__ import annotations

import io
import multiprocessing
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import typer
from dagster_aws.s3 import S3Resource
from rich.console import Console
from rich.table import Table

from pricing_platform.core import tables
from pricing_platform.db import migrate
from pricing_platform.lake.export import day_bounds, export_day, select_day_sql
from pricing_platform.lake.storage import LakeStorage
from pricing_platform.lake.streams import CLICKSTREAM
from pricing_platform.localstack.ephemeral import PostgresProcess, free_port, server_root, wait_port
from pricing_platform.localstack.postgres import LocalPostgres

console = Console(width=None if sys.stdout.isatty() else 160)
DAY = date(2026, 1, 15)
COPY_CHUNK = 250_000
TYPES = np.array(["page_view", "product_view", "add_to_cart", "remove_from_cart", "purchase"], dtype=object)
DEVICES = np.array(["mobile", "desktop", "tablet"], dtype=object)
CATEGORIES = np.array(["electronics", "clothing", "home", "sports", "books"], dtype=object)


def _uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.frombuffer(rng.bytes(16 * n).hex().encode(), dtype="S32").astype("U32")


def seed(conninfo: str, rows: int, rng_seed: int) -> float:
    """COPY `rows` clickstream rows on DAY; returns the seconds it took."""
    started = time.perf_counter()
    rng = np.random.default_rng(rng_seed)
    day_start = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC).timestamp()
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        columns = "event_id, user_id, session_id, event_type, product_id, product_name, product_category, "
        columns += "product_price, device_type, event_time"
        with cur.copy(f"COPY {tables.CLICKSTREAM_EVENTS} ({columns}) FROM STDIN (FORMAT csv)") as copy:
            for start in range(0, rows, COPY_CHUNK):
                n = min(COPY_CHUNK, rows - start)
                product = rng.integers(1, 100_000, n)
                pid = np.char.add("S", np.char.zfill(product.astype(str), 6)).astype(object)
                price = np.floor(np.exp(rng.uniform(np.log(10), np.log(2000), n))) + 0.99
                price_text = np.where(rng.random(n) < 0.9, np.char.mod("%.2f", price), "").astype(object)
                micros = (day_start * 1e6 + rng.integers(0, 86_400_000_000, n)).astype("datetime64[us]")
                frame = pd.DataFrame(
                    {
                        "event_id": _uuids(rng, n),
                        "user_id": np.char.add("user-", rng.integers(1, 50_000, n).astype(str)),
                        "session_id": _uuids(rng, n),
                        "event_type": TYPES[rng.integers(0, len(TYPES), n)],
                        "product_id": pid,
                        "product_name": "Product " + pid,
                        "product_category": CATEGORIES[product % len(CATEGORIES)],
                        "product_price": price_text,
                        "device_type": DEVICES[rng.integers(0, len(DEVICES), n)],
                        "event_time": np.datetime_as_string(micros, unit="us", timezone="UTC"),
                    }
                )
                buffer = io.StringIO()
                frame.to_csv(buffer, header=False, index=False)
                copy.write(buffer.getvalue())
        conn.execute(f"ANALYZE {tables.CLICKSTREAM_EVENTS}")
    return time.perf_counter() - started


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Measure:
    name: str
    rows: int
    seconds: float
    rss_before: float
    rss_peak: float
    note: str = ""


def measure(name: str, fn: Callable[[], tuple[int, str]]) -> Measure:
    before = rss_mib()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        rows, note = fn()
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    return Measure(name, rows, seconds, before, max(peak[0], rss_mib()), note)


def copy_baseline(conninfo: str) -> tuple[int, str]:
    query = psycopg.sql.SQL("COPY ({}) TO STDOUT").format(select_day_sql(CLICKSTREAM))
    size = 0
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        params = day_bounds(DAY)
        with cur.copy(query, params) as copy:
            for block in copy:
                size += len(block)
        rows = conn.execute(
            psycopg.sql.SQL("SELECT count(*) FROM {} WHERE event_time >= %s AND event_time < %s").format(
                psycopg.sql.Identifier(CLICKSTREAM.table)
            ),
            params,
        ).fetchone()[0]  # type: ignore[index]
    return rows, f"{size / 2**20:,.0f} MiB of text"


def cursor_baseline(conninfo: str, batch_rows: int) -> tuple[int, str]:
    rows = 0
    with psycopg.connect(conninfo) as conn, conn.transaction(), conn.cursor(name="bench") as cur:
        cur.itersize = batch_rows
        cur.execute(select_day_sql(CLICKSTREAM), day_bounds(DAY))
        while batch := cur.fetchmany(batch_rows):
            rows += len(batch)
    return rows, "rows fetched as Python tuples"


def export(conninfo: str, storage: LakeStorage, batch_rows: int) -> tuple[int, str]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        written = export_day(conn, CLICKSTREAM, DAY, storage, batch_rows)
    return written.rows, f"{written.bytes / 2**20:,.1f} MiB Parquet in {len(written.files)} file(s)"


def main(
    rows: int = typer.Option(3_000_000, min=1, help="clickstream rows to seed on one day"),
    batch_rows: int = typer.Option(100_000, min=1000, help="rows per Arrow batch (LAKE_BATCH_ROWS)"),
    rng_seed: int = typer.Option(42, "--seed", help="seed of the synthetic data"),
    rounds: int = typer.Option(3, min=1, help="interleaved rounds of baseline and exports"),
    s3_endpoint: str = typer.Option(
        "", help="S3 endpoint URL to export to (e.g. a running s3rver); empty: start moto_server"
    ),
    s3_name: str = typer.Option("", help="what the S3 endpoint is, for the report (default: its URL)"),
    s3_key: str = typer.Option("bench", help="access key for --s3-endpoint (s3rver: S3RVER)"),
    s3_secret: str = typer.Option("bench", help="secret key for --s3-endpoint (s3rver: S3RVER)"),
) -> None:
    root = server_root("pricing-bench-lake-")
    log_dir = Path("test-artifacts/benchmark")
    log_dir.mkdir(parents=True, exist_ok=True)
    pg = PostgresProcess(LocalPostgres(root / "pg", free_port()), log_dir / "postgres-lake.log")
    moto: subprocess.Popen | None = None
    results: list[list[Measure]] = []
    cursor: Measure | None = None
    try:
        with console.status("starting PostgreSQL" + ("" if s3_endpoint else " and moto_server")):
            pg.start()
            pg.server.ensure_role_and_database("pricing", "bench_lake")
            conninfo = pg.conninfo("bench_lake")
            migrate.upgrade(conninfo)
            if not s3_endpoint:
                s3_port = free_port()
                with (log_dir / "moto-lake.log").open("ab") as log:
                    moto = subprocess.Popen(
                        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p",
                         str(s3_port)],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )  # fmt: skip
                wait_port(s3_port)
                s3_endpoint, s3_name = f"http://127.0.0.1:{s3_port}", s3_name or "moto_server"
        s3_name = s3_name or s3_endpoint
        # The lake reaches S3 as the platform does: through dagster-aws's S3Resource and its client.
        s3 = S3Resource(
            endpoint_url=s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id=s3_key,
            aws_secret_access_key=s3_secret,
        )
        client = s3.get_client()
        if "bench-lake" not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
            client.create_bucket(Bucket="bench-lake")
        with (
            console.status(f"seeding {rows:,} clickstream rows on {DAY}"),
            ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool,
        ):
            seed_s = pool.submit(seed, conninfo, rows, rng_seed).result()
        console.print(f"seeded {rows:,} rows in {seed_s:.1f}s")
        local = LakeStorage.local(root / "lake")
        remote = LakeStorage.s3(s3, "bench-lake", "bench")
        steps: list[tuple[str, Callable[[], tuple[int, str]]]] = [
            ("baseline: COPY … TO STDOUT (read only)", lambda: copy_baseline(conninfo)),
            ("export → local directory", lambda: export(conninfo, local, batch_rows)),
            (f"export → S3 ({s3_name})", lambda: export(conninfo, remote, batch_rows)),
        ]
        for r in range(1, rounds + 1):
            current = []
            for name, step in steps:
                with console.status(f"round {r}/{rounds} · {name}"):
                    current.append(measure(name, step))
            results.append(current)
            base = current[0].rows / current[0].seconds
            console.print(
                f"round {r}: "
                + " · ".join(f"{m.name} {m.rows / m.seconds:,.0f} rows/s ({m.rows / m.seconds / base:.2f}×)"
                             for m in current)
            )  # fmt: skip
        with console.status("reference: the previous export's server-side cursor fetch"):
            cursor = measure(
                "reference: server-side cursor fetch", lambda: cursor_baseline(conninfo, batch_rows)
            )
        with psycopg.connect(conninfo) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0].split()[0]  # type: ignore[index]
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait(timeout=10)
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)

    table = Table(
        title=f"lake export of one day, {rows:,} clickstream rows (batch {batch_rows:,}), "
        f"median of {rounds} interleaved round(s)"
    )
    for column in ("step", "rows/s", "× baseline", "rounds (rows/s)", "peak RSS Δ MiB", "note"):
        table.add_column(column, justify="left" if column in ("step", "note", "rounds (rows/s)") else "right")
    for index, (name, _) in enumerate(steps):
        measures = [current[index] for current in results]
        rates = [m.rows / m.seconds for m in measures]
        ratios = [
            m.rows / m.seconds / (c[0].rows / c[0].seconds) for m, c in zip(measures, results, strict=True)
        ]
        table.add_row(
            name, f"{statistics.median(rates):,.0f}", f"{statistics.median(ratios):.2f}",
            " · ".join(f"{rate:,.0f}" for rate in rates),
            f"{max(m.rss_peak - m.rss_before for m in measures):+,.0f}", measures[-1].note,
        )  # fmt: skip
    if cursor is not None:
        table.add_row(
            cursor.name, f"{cursor.rows / cursor.seconds:,.0f}", "", "",
            f"{cursor.rss_peak - cursor.rss_before:+,.0f}", cursor.note,
        )  # fmt: skip
    console.print(table)
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(f"PostgreSQL {version}; process peak RSS (ru_maxrss) {max_rss:,.0f} MiB")


if __name__ == "__main__":
    typer.run(main)
