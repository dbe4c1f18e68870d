"""Ingest workers as real OS processes (so tests can SIGKILL, SIGSTOP and SIGTERM them), plus producing
and waiting helpers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import psycopg
from confluent_kafka import Producer

from pricing_platform.core.catalog import Stream
from pricing_platform.core.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def settings_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.environment()}


class PlatformProcess:
    """A `pricing-platform` command as a real OS process, with this test's settings."""

    def __init__(self, args: Sequence[str], settings: Settings, log_dir: Path, name: str) -> None:
        self.args = list(args)
        self.settings = settings
        self.log_path = log_dir / f"{name}.log"
        self.name = name
        self.process: subprocess.Popen | None = None

    def start(self) -> PlatformProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pricing_platform", *self.args],
                cwd=PROJECT_ROOT,
                env=settings_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait(timeout=10)

    def terminate(self, timeout_s: float = 30) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop_quietly(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait(timeout=10)


class WorkerProcess(PlatformProcess):
    def __init__(self, stream: Stream, settings: Settings, log_dir: Path, name: str) -> None:
        super().__init__(["ingest", stream.value, "--worker-id", name], settings, log_dir, name)
        self.stream = stream

    def start(self) -> WorkerProcess:
        super().start()
        return self


class RelayProcess(PlatformProcess):
    def __init__(self, settings: Settings, log_dir: Path, name: str) -> None:
        super().__init__(["relay", "--relay-id", name, "--metrics-port", "0"], settings, log_dir, name)

    def start(self) -> RelayProcess:
        super().start()
        return self


def produce(settings: Settings, messages: Iterable[tuple[str, bytes | None, bytes | None]]) -> int:
    """Produce (topic, key, value) with the same idempotent settings the simulators use; returns count."""
    producer = Producer(
        {
            **settings.kafka_common_config(),
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500_000,
        }
    )
    failures: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    count = 0
    for topic, key, value in messages:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        count += 1
    remaining = producer.flush(30)
    assert remaining == 0 and not failures, f"{remaining} undelivered, failures: {failures[:3]}"
    return count


def scalar(conninfo: str, query: str, params: Sequence[object] = ()) -> object:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(query, params).fetchone()
        return row[0] if row else None


def wait_until(
    predicate: Callable[[], bool], timeout_s: float, what: str, on_timeout: Callable[[], str] = lambda: ""
) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}. {on_timeout()}")
        time.sleep(0.2)


def wait_for_count(
    conninfo: str, table: str, expected: int, timeout_s: float = 60, logs: Callable[[], str] = lambda: ""
) -> None:
    last: list[object] = [None]

    def reached() -> bool:
        last[0] = scalar(conninfo, f"SELECT count(*) FROM {table}")
        return last[0] == expected

    wait_until(
        reached, timeout_s, f"{expected} rows in {table}", lambda: f"last count {last[0]}\n{logs()[-3000:]}"
    )


def stock_consistent(conninfo: str) -> list[tuple]:
    """Slots whose stock differs from the sum of their applied movements (must be empty)."""
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            """
            SELECT s.product_id, s.warehouse_id, s.current_stock, coalesce(sum(e.quantity_change), 0)
            FROM inventory_state s
            LEFT JOIN inventory_events e
              ON e.product_id = s.product_id AND e.warehouse_id = s.warehouse_id AND e.status = 'applied'
            GROUP BY 1, 2, 3
            HAVING s.current_stock <> coalesce(sum(e.quantity_change), 0)
            """
        ).fetchall()
