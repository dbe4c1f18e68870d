"""What SIGKILLs of the local durable broker cost a producer: acknowledged messages missing from the topic
and messages stored twice, with the producer idempotent (the baseline: what the stack used to run) and
without (what `up` runs with its durable broker now), in the same run.

For each setting, a fresh s3rver and Tansu on it (the stack's storage: conditional writes, atomic PUTs,
listing index, the repair before every start); one producer sends numbered messages at `--rate` a second
with the stack's durable-broker settings (acks=all, linger 250 ms, one request in flight, lz4) while the
broker is SIGKILLed `--kills` times, `--interval` seconds apart, and started again after a second. After a
flush, a consumer reads every partition from the start. With `--parallel` both settings run at once (more
load on the machine, which is when the loss shows). Run it several times: a loss is not seen every run.

    python benchmarks/broker_kill_loss.py [--rate 8000] [--kills 8] [--interval 10] [--rounds 2] [--parallel]
"""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console
from rich.table import Table

from pricing_platform.localstack.ephemeral import BrokerProcess, S3rverProcess, free_port, server_root

TOPIC = "kill-loss"
PARTITIONS = 3
console = Console()


@dataclass
class Outcome:
    idempotent: bool
    acknowledged: int
    failed: int
    missing: int  # acknowledged, not in the topic
    duplicated: int  # stored more than once


class Sender:
    """Numbered messages at a steady rate until stopped; what the broker acknowledged."""

    def __init__(self, bootstrap: str, idempotent: bool, rate: int) -> None:
        self.config = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": idempotent,
            "acks": "all",
            "linger.ms": 250,
            "max.in.flight.requests.per.connection": 1,
            "compression.type": "lz4",
            "message.timeout.ms": 120_000,
        }
        self.rate = rate
        self.acknowledged: set[int] = set()
        self.failed = 0
        self.stop = threading.Event()

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.acknowledged.add(int(msg.value()))  # type: ignore[arg-type]
        else:
            self.failed += 1

    def run(self) -> None:
        producer, sent, started = Producer(self.config), 0, time.monotonic()
        while not self.stop.is_set():
            due = int((time.monotonic() - started) * self.rate)
            while sent < due:
                try:
                    producer.produce(TOPIC, key=str(sent % 30), value=str(sent), on_delivery=self._delivered)
                except BufferError:
                    break
                sent += 1
            try:
                producer.poll(0.01)
            except KafkaException:  # fatal (an idempotent producer whose state the broker lost): a new one
                producer.flush(5)
                producer = Producer(self.config)
        producer.flush(150)


def read_all(bootstrap: str) -> dict[int, int]:
    """Every message of the topic: number → times stored."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "kill-loss", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    seen: dict[int, int] = {}
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 15:
        msg = consumer.poll(1)
        if msg is None or msg.error():
            continue
        quiet_since = time.monotonic()
        number = int(msg.value())  # type: ignore[arg-type]
        seen[number] = seen.get(number, 0) + 1
    consumer.close()
    return seen


def trial(idempotent: bool, rate: int, kills: int, interval: float, logs: Path) -> Outcome:
    root = server_root("pricing-kill-loss-")
    name = "idempotent" if idempotent else "plain"
    s3rver = S3rverProcess(free_port(), root / "s3", logs / f"kill-loss-s3rver-{name}.log")
    broker = BrokerProcess(free_port(), logs / f"kill-loss-broker-{name}.log", s3_endpoint=s3rver.endpoint)
    try:
        s3rver.start(broker.s3_bucket)
        broker.start()
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for future in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
            future.result()
        sender = Sender(broker.bootstrap, idempotent, rate)
        thread = threading.Thread(target=sender.run)
        thread.start()
        time.sleep(interval)
        for _ in range(kills):
            assert broker.process is not None
            broker.process.kill()
            broker.process.wait()
            time.sleep(1)
            broker.start()
            time.sleep(interval)
        sender.stop.set()
        thread.join()
        seen = read_all(broker.bootstrap)
        return Outcome(
            idempotent,
            len(sender.acknowledged),
            sender.failed,
            len(sender.acknowledged - seen.keys()),
            sum(1 for times in seen.values() if times > 1),
        )
    finally:
        broker.stop()
        s3rver.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(
    rate: Annotated[int, typer.Option(min=1, help="messages per second")] = 8000,
    kills: Annotated[int, typer.Option(min=1, help="SIGKILLs of the broker per trial")] = 8,
    interval: Annotated[float, typer.Option(min=2, help="seconds between SIGKILLs")] = 10.0,
    rounds: Annotated[int, typer.Option(min=1, help="trials of each setting")] = 2,
    parallel: Annotated[bool, typer.Option(help="run both settings of a round at once")] = True,
) -> None:
    logs = Path("test-artifacts/benchmark")
    logs.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    for round_ in range(1, rounds + 1):
        status = f"round {round_} of {rounds}: {kills} SIGKILLs at {rate:,} messages/s"
        with console.status(status), ThreadPoolExecutor(max_workers=2 if parallel else 1) as pool:
            jobs = [pool.submit(trial, idem, rate, kills, interval, logs) for idem in (True, False)]
            outcomes += [job.result() for job in jobs]
    table = Table(title=f"{kills} broker SIGKILLs per trial, {rate:,} messages/s, {rounds} round(s)")
    for column in ("producer", "acknowledged", "failed", "acknowledged, missing", "stored twice"):
        table.add_column(column, justify="right")
    for outcome in outcomes:
        table.add_row(
            "idempotent (baseline)" if outcome.idempotent else "not idempotent (`up`)",
            f"{outcome.acknowledged:,}",
            f"{outcome.failed:,}",
            f"{outcome.missing:,}",
            f"{outcome.duplicated:,}",
        )
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
