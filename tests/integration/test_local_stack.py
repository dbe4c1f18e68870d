"""`pricing-platform up | status | down`: the README's local stack, run for real on free ports."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Producer

from pricing_platform.core.catalog import TOPICS, Stream
from pricing_platform.core.events import ENCODER
from pricing_platform.core.settings import Settings
from pricing_platform.localstack.stack import delivered_log
from pricing_platform.localstack.supervisor import Supervisor
from pricing_platform.pricing import experiment_store
from pricing_platform.pricing.experiments import ExperimentParams
from pricing_platform.pricing.rules import PricingRules
from pricing_platform.simulators.market.live import read_delivered, read_landed
from tests.support.factories import price as competitor_price
from tests.support.market import live_sessions_per_day
from tests.support.monitoring import prometheus_api
from tests.support.servers import free_port, server_root
from tests.support.workers import PROJECT_ROOT, wait_until

pytestmark = pytest.mark.integration


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pricing_platform", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _processes_of(state_dir: str) -> list[str]:
    """Processes whose command line or environment names the stack's state directory (Dagster's code
    servers only carry it in DAGSTER_HOME)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            text = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if state_dir.encode() in text:
            found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    return found


def _delivered(
    state_dir: Path, key: str | None = None, *, ours: dict[str, int] | None = None
) -> dict[str, int]:
    """What the market's producer saw acknowledged (or in doubt), plus `ours`: what the test produced."""
    counts = read_delivered(delivered_log(state_dir), key)
    return {s: n + (ours or {}).get(s, 0) for s, n in counts.items()}


def _answers(url: str) -> bool:
    try:
        return urllib.request.urlopen(url, timeout=2).status == 200
    except OSError:
        return False


def _dagster_diagnosis(env: dict[str, str]) -> str:
    """What Dagster did instead: its runs and the end of its log (a timeout must say why)."""
    try:
        with psycopg.connect(env["DAGSTER_DATABASE_URL"], connect_timeout=5) as conn:
            runs = conn.execute(
                "SELECT pipeline_name, status, create_timestamp FROM runs ORDER BY create_timestamp"
            ).fetchall()
    except psycopg.Error as exc:
        runs = [("runs unreadable", str(exc), None)]
    log = Path(env["LOCAL_STATE_DIR"]) / "logs" / "dagster.log"
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else "(no dagster log)"
    return f"Dagster runs: {runs}\n--- dagster.log (end) ---\n{tail}"


def _log_tail(env: dict[str, str], service: str) -> str:
    log = Path(env["LOCAL_STATE_DIR"]) / "logs" / f"{service}.log"
    return log.read_text(errors="replace")[-3000:] if log.exists() else f"(no {service} log)"


@pytest.fixture
def stack_env() -> Iterator[dict[str, str]]:
    state = server_root("pricing-stack-")
    metrics, pg_port = free_port(), free_port()
    env = {
        **os.environ,
        "LOCAL_STATE_DIR": str(state),
        "DATABASE_URL": f"postgresql://pricing@127.0.0.1:{pg_port}/pricing",
        "DAGSTER_DATABASE_URL": f"postgresql://pricing@127.0.0.1:{pg_port}/dagster",
        "DAGSTER_PORT": str(free_port()),
        "LOCAL_S3_PORT": str(free_port()),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "INGEST_METRICS_PORT": str(metrics),
        # ~20 shopper events/s at any hour: quick to see land.
        "MARKET_SESSIONS_PER_DAY": str(live_sessions_per_day(4.6)),
        "SIMULATOR_METRICS_PORT": str(free_port()),
        "STREAM_METRICS_PORT": str(free_port()),
        "STREAM_LANDING_METRICS_PORT": str(free_port()),
        "REPRICER_METRICS_PORT": str(free_port()),
        "PRICE_FEED_METRICS_PORT": str(free_port()),
        "PROMETHEUS_PORT": str(free_port()),
        "PUSHGATEWAY_PORT": str(free_port()),
        "POSTGRES_EXPORTER_PORT": str(free_port()),
        "PROMETHEUS_SCRAPE_INTERVAL_S": "2",
        "DASHBOARD_PORT": str(free_port()),
        "QUALITY_DOCS_DIR": str(state / "quality-docs"),
    }
    yield env
    _cli(env, "down")
    # The stack's logs outlive it, for whoever reads a failure.
    shutil.copytree(state / "logs", PROJECT_ROOT / "test-artifacts" / "local-stack-logs", dirs_exist_ok=True)
    shutil.rmtree(state, ignore_errors=True)


def test_up_runs_everything_and_down_stops_it(stack_env: dict[str, str]) -> None:
    started = _cli(stack_env, "up")
    assert started.returncode == 0, started.stdout + started.stderr
    services = (
        "postgres",
        "broker",
        "s3",
        "dagster",
        "ingest-clickstream",
        "ingest-inventory",
        "ingest-competitor",
        "relay",
        "stream-processor",
        "ingest-stream-outputs",
        "repricer",
        "simulators",
        "broker-retention",
        "prometheus",
        "pushgateway",
        "postgres-exporter",
        "dashboard",
    )
    for service in services:
        assert service in started.stdout
    assert stack_env["DATABASE_URL"] in started.stdout, "up prints where things are"

    def landed(table: str) -> int:
        with psycopg.connect(stack_env["DATABASE_URL"]) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]

    def landed_since(moment: datetime) -> int:
        with psycopg.connect(stack_env["DATABASE_URL"]) as conn:
            query = "SELECT count(*) FROM clickstream_events WHERE ingested_at > %s"
            return conn.execute(query, (moment,)).fetchone()[0]  # type: ignore[index]

    wait_until(lambda: landed("clickstream_events") > 50, 60, "clickstream events from the simulators")
    wait_until(lambda: landed("competitor_prices") > 10, 60, "competitor prices")
    # Sales follow purchases, which come a minute or two into a session.
    wait_until(lambda: landed("inventory_events") > 90 + 3, 180, "inventory movements (sales)")
    with psycopg.connect(stack_env["DATABASE_URL"]) as conn:
        letters = conn.execute("SELECT topic, error_kind, reason FROM dead_letters LIMIT 5").fetchall()
    assert letters == [], "simulated events are all valid"

    last_status: list[str] = [""]

    def all_running() -> bool:
        shown = _cli(stack_env, "status")
        last_status[0] = shown.stdout + shown.stderr
        return shown.returncode == 0 and shown.stdout.count("RUNNING") == len(services)

    wait_until(all_running, 30, "every service RUNNING in `status`", lambda: last_status[0])
    assert "raw.clickstream" in last_status[0]

    dashboard_url = f"http://127.0.0.1:{stack_env['DASHBOARD_PORT']}/_stcore/health"
    wait_until(lambda: _answers(dashboard_url), 60, "the dashboard")

    bucket_url = f"http://127.0.0.1:{stack_env['LOCAL_S3_PORT']}/pricing-lake"
    assert _answers(bucket_url), "the local S3 endpoint serves the lake bucket"

    metrics_url = f"http://127.0.0.1:{stack_env['INGEST_METRICS_PORT']}/metrics"
    body = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    assert 'pricing_ingest_events_total{outcome="inserted",stream="clickstream"}' in body

    # The stream processor reads the clickstream (its windows close minutes later, by design).
    processor_url = f"http://127.0.0.1:{stack_env['STREAM_METRICS_PORT']}/metrics"

    def processor_reads() -> bool:
        body = urllib.request.urlopen(processor_url, timeout=5).read().decode()
        return any(line.startswith('stream_processor_events_total{outcome="accepted"}') and
                   float(line.split()[-1]) > 0 for line in body.splitlines())  # fmt: skip

    wait_until(processor_reads, 90, "the stream processor reading clicks")

    # An undercut on the running stack: the processor opens it and the repricer reprices that product.
    with psycopg.connect(stack_env["DATABASE_URL"]) as conn:
        ours = conn.execute("SELECT current_price FROM products WHERE product_id = 'P007'").fetchone()[0]  # type: ignore[index]
    theirs = (ours * Decimal("0.7")).quantize(Decimal("0.01"))
    undercut = competitor_price("P007", "ElectroHub", theirs, at=datetime.now(UTC), ours=ours)
    producer = Producer(
        {"bootstrap.servers": stack_env["KAFKA_BOOTSTRAP_SERVERS"], "enable.idempotence": False}
    )
    producer.produce(TOPICS[Stream.COMPETITOR].name, ENCODER.encode(undercut), b"P007")
    assert producer.flush(30) == 0
    produced_here = {"competitor": 1}  # counted with the market's own in the delivery checks below

    def repriced() -> bool:
        with psycopg.connect(stack_env["DATABASE_URL"]) as conn:
            query = "SELECT triggered_by FROM pricing_recommendations WHERE trigger_event_id = %s"
            return conn.execute(query, (undercut.event_id,)).fetchone() == ("undercut",)

    wait_until(repriced, 60, "the undercut repriced", lambda: _log_tail(stack_env, "repricer"))

    # Dagster: the UI answers, and the daemon runs the every-minute pricing schedule for real.
    dagster_url = f"http://127.0.0.1:{stack_env['DAGSTER_PORT']}/server_info"
    wait_until(lambda: _answers(dagster_url), 60, "the Dagster webserver")
    wait_until(
        lambda: landed("pricing_recommendations") >= 30,
        100,
        "a scheduled pricing cycle",
        lambda: _dagster_diagnosis(stack_env),
    )

    # The cycle's checks run in Dagster's code server (recommendation_checks_sensor), not in the pricing
    # run: a verdict lands for the cycle, and the sensor writes the Data Docs report. (How soon is a
    # figure for the benchmarks: on a loaded machine it has taken more than a minute.)
    def verdicts() -> list[tuple[timedelta, bool]]:
        with psycopg.connect(stack_env["DATABASE_URL"]) as conn:
            query = "SELECT checked_at - cycle_created_at, passed FROM pricing_cycle_checks"
            return conn.execute(query).fetchall()

    wait_until(lambda: bool(verdicts()), 90, "a checked pricing cycle", lambda: _dagster_diagnosis(stack_env))
    assert all(passed for _, passed in verdicts()), verdicts()
    assert (Path(stack_env["QUALITY_DOCS_DIR"]) / "index.html").is_file()

    # A price experiment runs from `up`: its sensor switches the product to the arm under way (arm B, by
    # the seed chosen), through the outbox to the shop, whose shoppers then see that price.
    with psycopg.connect(stack_env["DATABASE_URL"], autocommit=True) as conn:
        settings = Settings(database_url=stack_env["DATABASE_URL"])
        rules, params = PricingRules.from_settings(settings), ExperimentParams.from_settings(settings)
        now = datetime.now(UTC)
        for seed in range(100):  # a schedule whose block under way is arm B
            request = experiment_store.Request("up", "product", "P003", 5.0, 2, 60)
            plan = experiment_store.plan(conn, rules, params, request, now - timedelta(minutes=60), seed)
            if next(b.arm for b in plan.blocks if b.start <= now < b.end) == "B":
                break
        experiment_store.create(conn, plan, "test")
        test_price = plan.arms[0].test_price

    def shoppers_see(price: Decimal) -> bool:
        with psycopg.connect(stack_env["DATABASE_URL"]) as conn:
            query = "SELECT count(*) FROM clickstream_events WHERE product_id = 'P003' AND product_price = %s"
            return conn.execute(query, (price,)).fetchone()[0] > 0  # type: ignore[index]

    wait_until(lambda: shoppers_see(test_price), 120, "shoppers seeing the experiment's arm B price",
               lambda: _dagster_diagnosis(stack_env))  # fmt: skip

    # Prometheus scrapes every local process, and the scheduled cycle's pushed metrics reach it.
    prometheus_url = f"http://127.0.0.1:{stack_env['PROMETHEUS_PORT']}"
    health: dict[str, str] = {}

    def targets_up() -> bool:
        targets = prometheus_api(prometheus_url, "targets")["activeTargets"]
        health.clear()
        health.update({t["labels"]["job"]: t["health"] for t in targets})
        return bool(health) and set(health.values()) == {"up"}

    wait_until(targets_up, 30, "every Prometheus target up", lambda: str(health))
    assert set(health) == {
        *(f"ingest-{s}" for s in ("clickstream", "inventory", "competitor")),
        *("price-feed-relay", "simulators", "pushgateway", "postgres-exporter", "prometheus"),
        *("stream-processor", "ingest-stream-outputs", "repricer"),
    }

    def priced_in_prometheus() -> bool:
        query = 'pricing_engine_products_priced{job="pricing_engine"}'
        result = prometheus_api(prometheus_url, "query", query=query)["result"]
        # Products with a competitor observation yet: the market scrapes each pair every ~5 minutes.
        return bool(result) and float(result[0]["value"][1]) >= 1

    wait_until(priced_in_prometheus, 30, "the pricing cycle's pushed metrics in Prometheus")

    again = _cli(stack_env, "up")
    assert again.returncode == 0, "up is safe to re-run while the stack runs"

    # Durable: events produced while the workers are stopped survive `down`/`up` (the broker keeps its
    # topics in the local S3 endpoint, on disk) and land after the restart, exactly once.
    supervisor = Supervisor(Path(stack_env["LOCAL_STATE_DIR"]))
    for stream in ("clickstream", "inventory", "competitor"):
        supervisor.rpc().stopProcess(f"pipeline:ingest-{stream}")
    outage_start = datetime.now(UTC)
    time.sleep(8)  # the market keeps producing; nothing is consumed
    stopped = _cli(stack_env, "down")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout

    restarted = _cli(stack_env, "up")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "positions reset" not in restarted.stdout, "the topics survived: positions are kept"

    def landed_during_outage() -> int:
        with psycopg.connect(stack_env["DATABASE_URL"]) as conn:
            query = "SELECT count(*) FROM clickstream_events WHERE event_time BETWEEN %s AND %s"
            return conn.execute(query, (outage_start, outage_start + timedelta(seconds=8))).fetchone()[0]  # type: ignore[index]

    wait_until(lambda: landed_during_outage() > 0, 90, "events produced while ingest was stopped")

    # Drain: stop the market (it records what the broker acknowledged), wait for ingest, compare. Through a
    # `down`/`up`, nothing acknowledged is lost and nothing lands twice.
    state_dir = Path(stack_env["LOCAL_STATE_DIR"])
    supervisor.rpc().stopProcess("pipeline:simulators")
    delivered, in_doubt = _delivered(state_dir, ours=produced_here), _delivered(state_dir, "in_doubt")
    assert delivered["clickstream"] > 0

    database = stack_env["DATABASE_URL"]

    def all_landed_once() -> bool:
        landed = read_landed(database)
        return all(delivered[s] <= landed[s] <= delivered[s] + in_doubt[s] for s in landed)

    wait_until(
        all_landed_once,
        120,
        "every acknowledged event landed or dead-lettered, once",
        lambda: f"delivered {delivered} (+ in doubt {in_doubt}), landed {read_landed(database)}",
    )

    # A SIGKILLed broker restarts (the process manager) with its data: ingest carries on, nothing
    # acknowledged is lost and nothing lands twice. (With idempotent producers Tansu on s3rver acknowledged
    # retries across a SIGKILL without storing them; the stack's producers run without idempotence there.)
    supervisor.rpc().startProcess("pipeline:simulators")
    wait_until(lambda: landed_since(datetime.now(UTC) - timedelta(seconds=5)) > 20, 120, "the market again")
    broker_pid = next(info["pid"] for info in supervisor.processes() if info["name"] == "broker")
    os.kill(broker_pid, signal.SIGKILL)
    killed_at = datetime.now(UTC)
    wait_until(lambda: landed_since(killed_at) > 20, 120, "events after the broker was killed")
    supervisor.rpc().stopProcess("pipeline:simulators")
    after_kill = _delivered(state_dir, ours=produced_here)
    limit = {s: n + _delivered(state_dir, "in_doubt")[s] for s, n in after_kill.items()}

    def settled() -> bool:
        landed = read_landed(database)
        return all(after_kill[s] <= landed[s] <= limit[s] for s in landed)

    wait_until(
        settled,
        120,
        "every acknowledged event landed once after the broker's SIGKILL",
        lambda: f"delivered {after_kill} (+ in doubt up to {limit}), landed {read_landed(database)}",
    )
    assert all(n <= limit[s] for s, n in read_landed(stack_env["DATABASE_URL"]).items()), "none twice"

    assert _cli(stack_env, "down").returncode == 0
    after = _cli(stack_env, "status")
    assert "RUNNING" not in after.stdout
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(stack_env["DATABASE_URL"], connect_timeout=2)
    assert _processes_of(stack_env["LOCAL_STATE_DIR"]) == [], "down leaves no process of the stack behind"
