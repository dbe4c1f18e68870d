"""`pricing-platform up | down | status`: the whole platform as local processes under supervisord.

Embedded by default (own PostgreSQL and Kafka-protocol broker under the state directory, all on
127.0.0.1); set LOCAL_POSTGRES=false / LOCAL_BROKER=false to use external ones from DATABASE_URL and
KAFKA_BOOTSTRAP_SERVERS instead.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import psycopg
import yaml
from psycopg import sql
from rich.console import Console
from rich.table import Table

from ingest_workers.offsets import forget_positions
from pricing_platform.core import tables
from pricing_platform.core.catalog import INGESTED_OUTPUTS, TOPICS, Stream, consumer_group
from pricing_platform.core.settings import PROJECT_ROOT, Settings
from pricing_platform.db.setup import prepare_database
from pricing_platform.localstack import s3
from pricing_platform.localstack.broker import backup_registry, broker_argv
from pricing_platform.localstack.postgres import LocalPostgres, service_user
from pricing_platform.localstack.supervisor import Program, Supervisor
from pricing_platform.observability import prometheus
from pricing_platform.topics import ensure_topics

# With the broker's topics in the local S3 endpoint every produced batch is one object and every fetch
# lists a partition: larger, fewer batches and less frequent fetches keep that cheap (measured: README).
# The same broker keeps consumer-group membership in that storage and, after a crash, can leave a restarted
# worker with no partitions: the local stack's single worker per stream takes its partitions itself.
DURABLE_BROKER_CLIENTS: Final = {
    "KAFKA_PRODUCER_LINGER_MS": "250",
    "KAFKA_FETCH_WAIT_MAX_MS": "250",
    "KAFKA_CONSUMER_ASSIGNMENT": "static",
    # Under the stream processor's write load its S3 storage engine lost producers' sequences
    # (OUT_OF_ORDER_SEQUENCE_NUMBER, fatal, also for the simulators): the processor runs at-least-once,
    # without idempotence or changelog topics (a third of its writes); its windows and the landing are
    # idempotent, and its state stays in STREAM_STATE_DIR on disk.
    "STREAM_PROCESSING_GUARANTEE": "at-least-once",
    "STREAM_CHANGELOG": "false",
    # Pipelined produce requests are where it lost them: one request in flight per connection.
    "KAFKA_PRODUCER_MAX_IN_FLIGHT": "1",
    # Across a SIGKILL it acknowledged an idempotent producer's retry as a duplicate of its sequence without
    # storing the batch: acknowledged events lost (benchmarks/broker_kill_loss.py). Without idempotence the
    # retry is stored again, and ingest drops the duplicate by event id.
    "KAFKA_PRODUCER_IDEMPOTENCE": "false",
}

# Started in this order: storage first (the broker keeps its topics in it), then the servers, then the
# services that use them.
STORAGE = "storage"
# How long `up` waits for the broker to listen: the durable broker repairs its storage first, seconds on a
# demo day's batches (benchmarks/broker_repair.py), more on a machine as busy as the soak's.
BROKER_START_TIMEOUT_S: Final = 180.0
INFRA = "infra"
PIPELINE = "pipeline"


@dataclass(frozen=True)
class Endpoint:
    name: str
    address: str


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", "pricing_platform", *args]


def _without_password(url: str) -> str:
    """`url` fit for a terminal or a log: the password, if any, replaced by ***."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def broker_address(settings: Settings) -> tuple[str, int]:
    """Where the local broker listens: the first bootstrap address."""
    return _host_port(settings.kafka_bootstrap_servers.split(",")[0])


def local_postgres(settings: Settings) -> LocalPostgres:
    url = urlsplit(settings.database_conninfo)
    return LocalPostgres(settings.local_state_dir / "postgres", url.port or 5432, url.hostname or "127.0.0.1")


def delivered_log(state_dir: Path) -> Path:
    """Where the local market appends, per run, what the broker acknowledged (`read_delivered` sums it)."""
    return state_dir / "simulators" / "delivered.jsonl"


def market_seed(settings: Settings) -> int:
    """The local market's seed, drawn once and kept in the state directory: a restarted market is the same
    market (its true elasticities and competitor positions), so what the platform learned stays true."""
    path = settings.local_state_dir / "simulators" / "market-seed"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{secrets.randbelow(2**31)}\n")
    return int(path.read_text())


def programs(settings: Settings) -> list[Program]:
    found: list[Program] = []
    durable = runs_durable_broker(settings)
    kafka_env = dict(DURABLE_BROKER_CLIENTS) if durable else {}
    if settings.local_postgres:
        pg = local_postgres(settings)
        found.append(
            Program(
                "postgres", pg.server_argv(), INFRA, user=service_user(), directory=pg.root, stopsignal="INT"
            )
        )
    if runs_local_s3(settings):
        found.append(
            Program(
                "s3",
                s3.s3rver_argv(settings.local_bind_host, settings.local_s3_port, local_s3_dir(settings)),
                STORAGE,
                environment=dict(s3.S3RVER_ENVIRONMENT),
                stopsignal="INT",
            )
        )
    if settings.local_broker:
        host, port = broker_address(settings)
        storage = f"s3://{settings.local_broker_bucket}/" if durable else "memory://tansu/"
        environment = s3.broker_environment(local_s3_url(settings)) if durable else {}
        # Durable, it starts through `topics broker`, which repairs what a crash left in its storage first,
        # at every start, the process manager's restarts after a crash included.
        argv = _python("topics", "broker") if durable else broker_argv(host, port, storage)
        found.append(Program("broker", argv, INFRA, environment=environment))
    if settings.local_monitoring:
        found += monitoring_programs(settings)
    for index, stream in enumerate(Stream):
        metrics_port = settings.ingest_metrics_port + index if settings.ingest_metrics_port else 0
        found.append(
            Program(
                f"ingest-{stream.value}",
                _python(
                    "ingest",
                    stream.value,
                    "--worker-id",
                    f"local-{stream.value}",
                    "--metrics-port",
                    str(metrics_port),
                ),
                PIPELINE,
                directory=PROJECT_ROOT,
                environment=kafka_env,
            )
        )
    found.append(
        Program(
            "dagster",
            dagster_argv(settings),
            PIPELINE,
            directory=PROJECT_ROOT,
            environment={"DAGSTER_HOME": str(dagster_home(settings)), **monitoring_environment(settings)},
            # dagster dev shuts its webserver and daemon down cleanly on SIGINT only.
            stopsignal="INT",
            stopwaitsecs=30,
        )
    )
    found.append(
        Program(
            # Sessions, cart abandonments and funnel minutes; a stable id is its transactional id.
            "stream-processor",
            _python(
                "stream-processor",
                "--processor-id",
                "local-stream-processor",
                "--metrics-port",
                str(settings.stream_metrics_port),
            ),
            PIPELINE,
            directory=PROJECT_ROOT,
            environment=kafka_env,
        )
    )
    found.append(
        Program(
            "ingest-stream-outputs",
            _python(
                "ingest",
                *(o.value for o in INGESTED_OUTPUTS),
                "--worker-id",
                "local-stream-outputs",
                "--metrics-port",
                str(settings.stream_landing_metrics_port),
            ),
            PIPELINE,
            directory=PROJECT_ROOT,
            environment=kafka_env,
        )
    )
    found.append(
        Program(
            # Lands the processor's undercuts and reprices each product at once.
            "repricer",
            _python(
                "repricer",
                "--worker-id",
                "local-repricer",
                "--metrics-port",
                str(settings.repricer_metrics_port),
            ),
            PIPELINE,
            directory=PROJECT_ROOT,
            environment=kafka_env,
        )
    )
    found.append(
        Program(
            "relay",
            _python(
                "relay", "--relay-id", "local-relay", "--metrics-port", str(settings.price_feed_metrics_port)
            ),
            PIPELINE,
            directory=PROJECT_ROOT,
            environment=kafka_env,
        )
    )
    found.append(
        Program(
            # The price-responsive market: shoppers, competitors, warehouses, and the storefront that
            # applies the price feed.
            "simulators",
            _python(
                "simulate",
                "market",
                "--seed",
                str(market_seed(settings)),
                "--no-progress",
                "--metrics-port",
                str(settings.simulator_metrics_port),
                "--delivered-log",
                str(delivered_log(settings.local_state_dir)),
            ),
            PIPELINE,
            directory=PROJECT_ROOT,
            environment=kafka_env,
            stopsignal="INT",
        )
    )
    if durable:
        found.append(
            Program("broker-retention", _python("topics", "retain"), PIPELINE, directory=PROJECT_ROOT)
        )
    found.append(
        Program(
            "dashboard",
            _python("dashboard", "--host", settings.local_bind_host, "--port", str(settings.dashboard_port)),
            PIPELINE,
            directory=PROJECT_ROOT,
        )
    )
    return found


def dagster_argv(settings: Settings) -> list[str]:
    dagster = str(Path(sys.executable).parent / "dagster")
    host, port = settings.local_bind_host, str(settings.dagster_port)
    # The deployment's workspace file: the same code locations locally and in compose.
    return [dagster, "dev", "-w", str(DEPLOY_WORKSPACE_YAML), "-h", host, "-p", port]


def dagster_home(settings: Settings) -> Path:
    return settings.local_state_dir / "dagster"


def monitoring_programs(settings: Settings) -> list[Program]:
    """Prometheus, the Pushgateway for the Dagster runs' metrics, and the PostgreSQL exporter (its
    DATA_SOURCE_NAME comes from the environment `up` gives the process manager, like the Dagster URL)."""
    state = prometheus.prometheus_dir(settings)
    return [
        Program(
            "prometheus",
            prometheus.prometheus_argv(settings, prometheus.local_config_path(settings), state / "data"),
            INFRA,
        ),
        Program("pushgateway", prometheus.pushgateway_argv(settings, state / "pushgateway.data"), INFRA),
        Program("postgres-exporter", prometheus.postgres_exporter_argv(settings), INFRA),
    ]


def monitoring_environment(settings: Settings) -> dict[str, str]:
    """The Dagster runs push to the stack's own Pushgateway unless PUSHGATEWAY_URL names another."""
    if settings.pushgateway_url or not settings.local_monitoring:
        return {}
    return {"PUSHGATEWAY_URL": prometheus.local_pushgateway_url(settings)}


# The one source of the Dagster instance configuration and of the code locations, for the compose
# deployment and the local stack.
DEPLOY_DAGSTER_YAML = PROJECT_ROOT / "deploy" / "dagster" / "dagster.yaml"
DEPLOY_WORKSPACE_YAML = PROJECT_ROOT / "deploy" / "dagster" / "workspace.yaml"
# Settings whose paths are the deployment's volume; locally they live under DAGSTER_HOME.
_LOCAL_PATHS = {"compute_logs": "compute_logs", "local_artifact_storage": ""}


def dagster_instance_yaml(home: Path) -> str:
    """deploy/dagster/dagster.yaml with its storage paths moved under `home`."""
    config = yaml.safe_load(DEPLOY_DAGSTER_YAML.read_text())
    for key, below in _LOCAL_PATHS.items():
        config[key]["config"]["base_dir"] = str(home / "storage" / below)
    header = (
        f"# Written by `pricing-platform up` from {DEPLOY_DAGSTER_YAML.relative_to(PROJECT_ROOT)} (the one\n"
        "# source of the instance configuration), with its storage paths under this directory.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False)


def write_dagster_home(settings: Settings) -> Path:
    home = dagster_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(dagster_instance_yaml(home))
    return home


def endpoints(settings: Settings) -> list[Endpoint]:
    found = [
        Endpoint("Dagster UI", f"http://{settings.local_bind_host}:{settings.dagster_port}"),
        Endpoint("Dashboard", f"http://{settings.local_bind_host}:{settings.dashboard_port}"),
        Endpoint("PostgreSQL", _without_password(settings.database_conninfo)),
        Endpoint("Kafka bootstrap", settings.kafka_bootstrap_servers),
    ]
    if settings.ingest_metrics_port:
        for index, stream in enumerate(Stream):
            port = settings.ingest_metrics_port + index
            found.append(
                Endpoint(
                    f"metrics ingest-{stream.value}", f"http://{settings.local_bind_host}:{port}/metrics"
                )
            )
    if settings.price_feed_metrics_port:
        relay = f"http://{settings.local_bind_host}:{settings.price_feed_metrics_port}/metrics"
        found.append(Endpoint("metrics price-feed relay", relay))
    for name, port in (("stream processor", settings.stream_metrics_port),
                       ("ingest-stream-outputs", settings.stream_landing_metrics_port),
                       ("repricer", settings.repricer_metrics_port)):  # fmt: skip
        if port:
            found.append(Endpoint(f"metrics {name}", f"http://{settings.local_bind_host}:{port}/metrics"))
    if settings.local_s3:
        found.append(Endpoint("S3 lake (local endpoint)", f"{local_s3_url(settings)}/{settings.lake_bucket}"))
    host = settings.local_bind_host
    if settings.simulator_metrics_port:
        found.append(
            Endpoint("metrics simulators", f"http://{host}:{settings.simulator_metrics_port}/metrics")
        )
    if settings.local_monitoring:
        found.append(Endpoint("Prometheus", f"http://{host}:{settings.prometheus_port}"))
        found.append(Endpoint("Pushgateway", prometheus.local_pushgateway_url(settings)))
        exporter = f"http://{host}:{settings.postgres_exporter_port}/metrics"
        found.append(Endpoint("metrics PostgreSQL exporter", exporter))
    found.append(Endpoint("logs", str(settings.local_state_dir / "logs")))
    return found


def up(settings: Settings, console: Console) -> None:
    supervisor = Supervisor(settings.local_state_dir)
    settings.local_state_dir.mkdir(parents=True, exist_ok=True)
    with console.status("preparing the local stack") as status:
        if settings.local_postgres:
            status.update("initialising PostgreSQL data directory")
            local_postgres(settings).init()
        write_dagster_home(settings)
        if settings.local_monitoring:
            prometheus.write_local_config(settings)
            os.environ.setdefault("DATA_SOURCE_NAME", prometheus.exporter_dsn(settings.database_conninfo))
        supervisor.write_config(programs(settings), [STORAGE, INFRA, PIPELINE])
        # Services inherit the environment of the process manager; the storage URL may hold a password, so it
        # is passed this way rather than written into its config file.
        os.environ.setdefault("DAGSTER_DATABASE_URL", str(settings.dagster_database_url))
        if settings.local_s3:
            # The stack's own services write the lake to its local S3 endpoint.
            os.environ.update(local_s3_environment(settings))
        status.update("starting the process manager")
        supervisor.start_daemon()
        if runs_local_s3(settings):
            status.update("starting the local S3 endpoint")
            supervisor.start_group(STORAGE)
            for bucket in local_buckets(settings):
                _wait(
                    lambda bucket=bucket: s3.create_bucket(local_s3_url(settings), bucket),
                    30,
                    f"S3 endpoint {local_s3_url(settings)} (bucket {bucket})",
                )
        status.update("starting PostgreSQL and the broker")
        supervisor.start_group(INFRA)
        if settings.local_postgres:
            pg = local_postgres(settings)
            pg.wait_ready()
            url = urlsplit(settings.database_conninfo)
            pg.ensure_role_and_database(
                url.username or "pricing", url.path.lstrip("/") or "pricing", url.password
            )
            dagster_url = urlsplit(str(settings.dagster_database_url))
            pg.ensure_role_and_database(
                dagster_url.username or "pricing",
                dagster_url.path.lstrip("/") or "dagster",
                dagster_url.password,
            )
        status.update("migrating the database")
        where = _without_password(settings.database_conninfo)
        _wait(lambda: _database_reachable(settings), 60, f"PostgreSQL at {where}")
        prepare_database(settings)
        if settings.local_broker:
            host, port = broker_address(settings)
            # The durable broker first puts right what a crash left in its storage (`topics broker`).
            _wait(
                lambda: _listening(host, port),
                BROKER_START_TIMEOUT_S,
                f"the broker at {host}:{port} (see {supervisor.log_dir / 'broker.log'})",
            )
        status.update("creating topics")
        created = [name for name, outcome in ensure_topics(settings).items() if outcome == "created"]
        if runs_durable_broker(settings):
            # The topics' ids into the registry backup now, not at the next retention pass: a repair of
            # cut-off metadata keeps them (localstack/broker.py).
            backup_registry(s3.client(local_s3_url(settings)), settings.local_broker_bucket)
        if created:
            # A topic created now is empty and its offsets start at 0: positions stored against an
            # earlier topic of that name (a wiped broker, a recreated topic) must not be resumed from.
            with psycopg.connect(settings.database_conninfo) as conn:
                forgotten = forget_positions(conn, created)
            if forgotten:
                console.print(
                    f"new topics {', '.join(created)}: {forgotten} stored partition positions reset"
                )
            if TOPICS[Stream.CLICKSTREAM].name in created and settings.stream_state_path().exists():
                # The processor's window state refers to changelog offsets of the topics that went with
                # the old clickstream; it starts again from the new one.
                shutil.rmtree(settings.stream_state_path())
                console.print("new clickstream topic: the stream processor's window state reset")
        status.update("starting ingest workers and simulators")
        supervisor.start_group(PIPELINE)
    console.print(status_table(settings))
    table = Table("endpoint", "address", title="where things are")
    for endpoint in endpoints(settings):
        table.add_row(endpoint.name, endpoint.address)
    console.print(table)
    console.print(
        "Watch events land: [bold]pricing-platform status[/]  ·  stop: [bold]pricing-platform down[/]"
    )


def down(settings: Settings, console: Console) -> None:
    supervisor = Supervisor(settings.local_state_dir)
    with console.status("stopping the local stack"):
        stopped = supervisor.shutdown()
    console.print("stopped" if stopped else "nothing was running")


def status_table(settings: Settings) -> Table:
    supervisor = Supervisor(settings.local_state_dir)
    table = Table("service", "state", "pid", "uptime / exit", title="local stack")
    for info in supervisor.processes():
        state = info["statename"]
        colour = {"RUNNING": "green", "STARTING": "yellow"}.get(state, "red")
        table.add_row(info["name"], f"[{colour}]{state}[/]", str(info["pid"] or "-"), info["description"])
    if not table.rows:
        table.add_row("(nothing)", "[red]STOPPED[/]", "-", "run `pricing-platform up`")
    return table


def data_table(settings: Settings) -> Table:
    """Per stream: messages consumed (exact and cheap, from stored offsets), newest event, dead letters."""
    table = Table("stream", "topic", "messages consumed", "newest event", "dead letters", title="data landed")
    landed = {
        Stream.CLICKSTREAM: tables.CLICKSTREAM_EVENTS,
        Stream.INVENTORY: tables.INVENTORY_EVENTS,
        Stream.COMPETITOR: tables.COMPETITOR_PRICES,
    }
    try:
        with psycopg.connect(settings.database_conninfo, connect_timeout=3) as conn:
            for stream, table_name in landed.items():
                topic = TOPICS[stream].name
                consumed, letters = conn.execute(
                    sql.SQL(
                        "SELECT (SELECT coalesce(sum(next_offset), 0) FROM {offsets} "
                        "        WHERE topic = %(topic)s AND consumer_group = %(group)s), "
                        "       (SELECT count(*) FROM {dead} WHERE topic = %(topic)s)"
                    ).format(
                        offsets=sql.Identifier(tables.INGEST_OFFSETS),
                        dead=sql.Identifier(tables.DEAD_LETTERS),
                    ),
                    {"topic": topic, "group": consumer_group(stream, settings.kafka_group_prefix)},
                ).fetchone()
                # event_time has a descending index: max() reads one entry.
                newest = conn.execute(
                    sql.SQL("SELECT max(event_time) FROM {}").format(sql.Identifier(table_name))
                ).fetchone()[0]
                age = f"{(datetime.now(UTC) - newest).total_seconds():.1f} s ago" if newest else "-"
                table.add_row(stream.value, topic, f"{consumed:,}", age, f"{letters:,}")
    except psycopg.OperationalError as exc:
        table.add_row("(database unreachable)", "-", "-", str(exc).strip().splitlines()[0], "-")
    return table


def runs_durable_broker(settings: Settings) -> bool:
    """The embedded broker keeps its topics in the local S3 endpoint (LOCAL_BROKER_STORAGE=s3)."""
    return settings.local_broker and settings.local_broker_storage == "s3"


def runs_local_s3(settings: Settings) -> bool:
    """The local S3 endpoint serves the lake (LOCAL_S3) and the durable broker's topics."""
    return settings.local_s3 or runs_durable_broker(settings)


def local_buckets(settings: Settings) -> list[str]:
    buckets = [settings.lake_bucket] if settings.local_s3 else []
    if runs_durable_broker(settings):
        buckets.append(settings.local_broker_bucket)
    return buckets


def local_s3_dir(settings: Settings) -> Path:
    return settings.local_state_dir / "s3"


def local_s3_environment(settings: Settings) -> dict[str, str]:
    """What the stack's processes (and commands run from a shell, like `lake query`) need to use the lake
    on the local endpoint."""
    return {
        "LAKE_BACKEND": "s3",
        "S3_ENDPOINT_URL": local_s3_url(settings),
        "AWS_ACCESS_KEY_ID": s3.ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": s3.SECRET_KEY,
        **s3.CLIENT_ENVIRONMENT,
    }


def lake_settings(settings: Settings) -> Settings:
    """The lake the local stack's services use: its own S3 endpoint when LOCAL_S3 is on (the default),
    else whatever LAKE_* / S3_* say. Commands run from a shell (`lake query`) read the same lake."""
    if not settings.local_s3:
        return settings
    os.environ.update(s3.CLIENT_ENVIRONMENT)
    return settings.model_copy(
        update={
            "lake_backend": "s3",
            "s3_endpoint_url": local_s3_url(settings),
            "aws_access_key_id": s3.ACCESS_KEY,
            "aws_secret_access_key": s3.SECRET_KEY,
        }
    )


def local_s3_url(settings: Settings) -> str:
    return f"http://{settings.local_bind_host}:{settings.local_s3_port}"


def _database_reachable(settings: Settings) -> bool:
    try:
        with psycopg.connect(settings.database_conninfo, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _listening(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reachable after {timeout_s:.0f}s")
        time.sleep(0.2)
