"""`pricing-platform` command line: the local stack, simulators, ingest workers and database chores."""

from __future__ import annotations

import logging
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from pricing_platform.core.catalog import ALL_TOPICS, Stream
from pricing_platform.core.settings import get_settings

if TYPE_CHECKING:
    from pricing_platform.resources.dbt import DbtResource

app = typer.Typer(help="Real-time pricing intelligence platform.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema and seed data.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(topics_app, name="topics")
dbt_app = typer.Typer(help="The dbt project, connected from the settings.", no_args_is_help=True)
app.add_typer(dbt_app, name="dbt")
lake_app = typer.Typer(help="The Parquet lake.", no_args_is_help=True)
app.add_typer(lake_app, name="lake")
notebooks_app = typer.Typer(help="The analytics notebooks, generated from code.", no_args_is_help=True)
app.add_typer(notebooks_app, name="notebooks")
console = Console()


def _configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations and load the catalog (idempotent)."""
    from pricing_platform.db import migrate
    from pricing_platform.db.setup import prepare_database

    settings = get_settings()
    with_password = prepare_database(settings)
    revision = migrate.current_revision(settings.database_conninfo)
    console.print(f"database at revision [bold]{revision}[/], catalog loaded")
    if with_password:
        console.print(f"passwords set for roles: {', '.join(with_password)}")


@topics_app.command("create")
def topics_create() -> None:
    """Create the platform's topics (idempotent) and check their partition counts."""
    from pricing_platform.topics import ensure_topics

    outcome = ensure_topics(get_settings())
    table = Table("topic", "partitions", "state")
    for stream_topic in ALL_TOPICS:
        table.add_row(stream_topic.name, str(stream_topic.partitions), outcome[stream_topic.name])
    console.print(table)


@topics_app.command("broker")
def topics_broker() -> None:
    """Local stack only: put right what a crash left in the embedded broker's S3 storage (a truncated batch,
    cut-off cluster metadata, stale watermarks), then run the broker in this process (the process manager
    starts it so)."""
    from pricing_platform.localstack import s3
    from pricing_platform.localstack.broker import broker_argv, repair_storage
    from pricing_platform.localstack.stack import broker_address, local_s3_url

    _configure_logging()
    settings = get_settings()
    endpoint = local_s3_url(settings)
    for done in repair_storage(s3.client(endpoint), settings.local_broker_bucket):
        logging.getLogger(__name__).warning("broker storage: %s", done)
    host, port = broker_address(settings)
    argv = broker_argv(host, port, f"s3://{settings.local_broker_bucket}/")
    os.execve(argv[0], argv, {**os.environ, **s3.broker_environment(endpoint)})


@topics_app.command("retain")
def topics_retain() -> None:
    """Local stack only: enforce LOCAL_TOPIC_RETENTION_HOURS on the embedded broker's storage until
    SIGTERM/SIGINT (Apache Kafka applies retention itself; the local broker does not)."""
    import signal
    import threading

    from pricing_platform.localstack.retention import run_sweeper

    _configure_logging()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run_sweeper(get_settings(), stop)


@app.command()
def ingest(
    streams: Annotated[
        list[str],
        typer.Argument(
            help="the stream(s) this worker consumes: clickstream | inventory | competitor, or the stream "
            "processor's outputs sessions | cart_abandonments | funnel_minutes (several: a thread each)"
        ),
    ],
    worker_id: Annotated[str | None, typer.Option(help="client id shown in logs and the broker")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Prometheus port (default: INGEST_METRICS_PORT + stream index, or "
            "STREAM_LANDING_METRICS_PORT for the processor's outputs; 0: off)"
        ),
    ] = None,
) -> None:
    """Run one ingest worker until SIGTERM/SIGINT. Start several to share a stream's partitions."""
    from prometheus_client import start_http_server

    from ingest_workers.worker import run_workers
    from pricing_platform.core.catalog import INGESTED_OUTPUTS

    _configure_logging()
    settings = get_settings()
    names = {s.value: s for s in (*Stream, *INGESTED_OUTPUTS)}
    unknown = [name for name in streams if name not in names]
    if unknown or not streams:
        raise typer.BadParameter(f"unknown stream(s) {unknown}; expected some of {sorted(names)}")
    chosen = [names[name] for name in streams]
    if metrics_port is None:
        first = chosen[0]
        if isinstance(first, Stream):
            base = settings.ingest_metrics_port
            metrics_port = base + list(Stream).index(first) if base else 0
        else:
            metrics_port = settings.stream_landing_metrics_port
    if metrics_port:
        start_http_server(metrics_port, addr=settings.local_bind_host)
        logging.getLogger(__name__).info(
            "metrics on http://%s:%s/metrics", settings.local_bind_host, metrics_port
        )
    run_workers(chosen, settings, worker_id=worker_id)


@app.command()
def repricer(
    worker_id: Annotated[str | None, typer.Option(help="client id shown in logs and the broker")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Prometheus port (default REPRICER_METRICS_PORT; 0: off)")
    ] = None,
) -> None:
    """Reprice each product the moment the stream processor reports an undercut (`stream.undercuts`),
    until SIGTERM/SIGINT. Start several to share the topic's partitions."""
    from pricing_platform.observability.metrics import serve_metrics
    from pricing_platform.pricing.repricer import run_repricer

    _configure_logging()
    settings = get_settings()
    serve_metrics(settings.repricer_metrics_port if metrics_port is None else metrics_port,
                  settings.local_bind_host, "repricer")  # fmt: skip
    run_repricer(settings, worker_id=worker_id)


@app.command("stream-processor")
def stream_processor(
    processor_id: Annotated[
        str | None,
        typer.Option(
            help="its transactional id, to keep the same across restarts (default: stream-processor-HOSTNAME)"
        ),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Prometheus port (default STREAM_METRICS_PORT; 0: off)")
    ] = None,
) -> None:
    """Run the stream processor (sessions, cart abandonment, funnel per minute, undercuts) until
    SIGTERM/SIGINT. Start several, each with its own id, to share the partitions (docs/operations.md)."""
    import socket

    from pricing_platform.observability.metrics import serve_metrics
    from pricing_platform.streaming.processor import run_processor

    _configure_logging()
    settings = get_settings()
    serve_metrics(settings.stream_metrics_port if metrics_port is None else metrics_port,
                  settings.local_bind_host, "stream processor")  # fmt: skip
    run_processor(settings, processor_id or f"stream-processor-{socket.gethostname()}")


@app.command()
def relay(
    relay_id: Annotated[str | None, typer.Option(help="name in logs and in price_feed_relays")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Prometheus port (default PRICE_FEED_METRICS_PORT; 0: off)")
    ] = None,
) -> None:
    """Publish applied price changes from the outbox to pricing.price_changes until SIGTERM/SIGINT. Start
    several to share the outbox's lanes."""
    import signal
    import socket
    import threading

    from pricing_platform.observability.metrics import serve_metrics
    from pricing_platform.pricefeed.relay import Relay

    _configure_logging()
    settings = get_settings()
    serve_metrics(settings.price_feed_metrics_port if metrics_port is None else metrics_port,
                  settings.local_bind_host, "price-feed relay")  # fmt: skip
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    Relay(settings, relay_id or f"relay-{socket.gethostname()}-{os.getpid()}").run(stop)


@app.command()
def simulate(
    stream: Annotated[str, typer.Argument(help="market | clickstream | inventory | competitor | all")],
    rate: Annotated[float | None, typer.Option(help="events/s per stream (default SIMULATOR_RATE)")] = None,
    max_rate: Annotated[bool, typer.Option("--max", help="as fast as the machine allows")] = False,
    count: Annotated[int | None, typer.Option(help="stop after N events per stream")] = None,
    seed: Annotated[int | None, typer.Option(help="same seed, same events (default: a fresh one)")] = None,
    progress: Annotated[bool, typer.Option(help="live events/s display")] = True,
    metrics_port: Annotated[
        int | None, typer.Option(help="Prometheus port (default SIMULATOR_METRICS_PORT; 0: off)")
    ] = None,
    days: Annotated[
        float | None, typer.Option(help="market: run this many simulated days on a fast clock (else live)")
    ] = None,
    sessions_per_day: Annotated[
        float | None, typer.Option(help="market: shopper sessions a day (default MARKET_SESSIONS_PER_DAY)")
    ] = None,
    truth_file: Annotated[
        Path | None, typer.Option(help="market: write the market's hidden parameters here (for scoring)")
    ] = None,
    delivered_log: Annotated[
        Path | None, typer.Option(help="append the events the broker acknowledged, per stream, at exit")
    ] = None,
) -> None:
    """Produce realistic shop events to the raw topics: the price-responsive market (live, or a fast
    simulated-time run through the whole platform with --days), or one stream's load generator."""
    from pricing_platform.observability.metrics import serve_metrics

    _configure_logging()
    settings = get_settings()
    if seed is None:
        seed = secrets.randbits(32)
    logging.getLogger(__name__).info("simulating %s with --seed %s", stream, seed)
    if stream == "market":
        if days is not None:
            from pricing_platform.simulation.run import simulate_days

            outcome = simulate_days(
                settings,
                days=days,
                seed=seed,
                sessions_per_day=sessions_per_day or settings.market_sessions_per_day,
                truth_file=truth_file,
                progress=progress,
            )
            console.print(outcome.table())
            return
        from pricing_platform.simulators.market.live import run_live_market

        serve_metrics(settings.simulator_metrics_port if metrics_port is None else metrics_port,
                      settings.local_bind_host, "simulator")  # fmt: skip
        produced = run_live_market(
            settings,
            seed=seed,
            sessions_per_day=sessions_per_day or settings.market_sessions_per_day,
            truth_file=truth_file,
            delivered_log=delivered_log,
            progress=progress,
        )
    else:
        from pricing_platform.simulators.market.live import record_delivered
        from pricing_platform.simulators.run import run_simulators

        try:
            streams = list(Stream) if stream == "all" else [Stream(stream)]
        except ValueError:
            raise typer.BadParameter(
                f"{stream!r}: expected market, clickstream, inventory, competitor or all"
            ) from None
        serve_metrics(settings.simulator_metrics_port if metrics_port is None else metrics_port,
                      settings.local_bind_host, "simulator")  # fmt: skip
        produced = run_simulators(
            streams,
            settings=settings,
            rate=None if max_rate else (rate or settings.simulator_rate),
            count=count,
            seed=seed,
            progress=progress,
        )
        if delivered_log is not None:
            record_delivered(delivered_log, seed, produced)
    table = Table("stream", "events produced")
    for s, n in produced.items():
        table.add_row(s.value, f"{n:,}")
    console.print(table)


@app.command()
def dashboard(
    host: Annotated[str | None, typer.Option(help="address to bind; default LOCAL_BIND_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="port; default DASHBOARD_PORT")] = None,
) -> None:
    """Serve the Streamlit dashboard (reads as the read-only role, approves as the approver role)."""
    from pricing_platform.dashboard import app as dashboard_app

    settings = get_settings()
    argv = [
        sys.executable, "-m", "streamlit", "run", str(Path(dashboard_app.__file__)),
        "--server.address", host or settings.local_bind_host,
        "--server.port", str(port or settings.dashboard_port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        # A failure shows its type and message, never a traceback with the code around it.
        "--client.showErrorDetails", "type",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    console.print(f"dashboard on http://{host or settings.local_bind_host}:{port or settings.dashboard_port}")
    # exec: the process manager's signals reach Streamlit itself.
    os.execv(sys.executable, argv)


@app.command()
def up() -> None:
    """Start the whole platform locally (or re-start what is not running) and print where things are."""
    from pricing_platform.localstack import stack

    stack.up(get_settings(), console)


@app.command()
def down() -> None:
    """Stop everything `up` started (data stays in LOCAL_STATE_DIR)."""
    from pricing_platform.localstack import stack

    stack.down(get_settings(), console)


@app.command()
def status(
    watch: Annotated[bool, typer.Option(help="refresh every 2 s until Ctrl-C")] = False,
) -> None:
    """Show what runs and how much data has landed."""
    from rich.console import Group
    from rich.live import Live

    from pricing_platform.localstack import stack

    settings = get_settings()

    def render() -> Group:
        return Group(stack.status_table(settings), stack.data_table(settings))

    if not watch:
        console.print(render())
        return
    with Live(render(), console=console, refresh_per_second=1) as live:
        try:
            while True:
                time.sleep(2)
                live.update(render())
        except KeyboardInterrupt:
            pass


@app.command()
def quality(
    verbose: Annotated[
        bool, typer.Option("--verbose", help="show each check's Expectation, its arguments and counts")
    ] = False,
    docs: Annotated[bool, typer.Option(help="write the GX Data Docs report to QUALITY_DOCS_DIR")] = True,
) -> None:
    """Run every data-quality check (great-expectations) against DATABASE_URL; exit 1 if any fails."""
    from pricing_platform.quality.cli import quality_command

    raise typer.Exit(quality_command(verbose, get_settings(), docs=docs))


def _dbt() -> DbtResource:
    from pricing_platform.resources.dbt import DbtResource

    return DbtResource.from_settings(get_settings())


@dbt_app.command("prepare")
def dbt_prepare() -> None:
    """Build step: regenerate the catalog macros and write target/manifest.json (no database needed)."""
    console.print(f"dbt manifest ready: {_dbt().prepare()}")


@dbt_app.command("generate")
def dbt_generate() -> None:
    """Only regenerate macros/catalog_values.sql from the catalog."""
    from pricing_platform.transform import catalog_macros

    changed = catalog_macros.write_catalog_macros()
    console.print(f"{catalog_macros.CATALOG_MACROS_PATH} {'rewritten' if changed else 'already up to date'}")


@dbt_app.command("docs")
def dbt_docs(
    serve: Annotated[bool, typer.Option(help="then serve the site on LOCAL_BIND_HOST")] = False,
    port: Annotated[int, typer.Option(help="port for --serve")] = 8080,
) -> None:
    """`dbt docs generate` against DATABASE_URL (needs the database)."""
    host = get_settings().local_bind_host
    _dbt().docs(
        serve_on=(host, port) if serve else None,
        on_generated=lambda index: console.print(f"dbt docs generated: {index}"),
    )


@dbt_app.command("cli", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def dbt_cli(ctx: typer.Context) -> None:
    """Any dbt command, e.g. `pricing-platform dbt cli build`, connected from the settings."""
    raise typer.Exit(_dbt().run(ctx.args).returncode)


@lake_app.command("query")
def lake_query(
    sql: Annotated[str, typer.Argument(help="DuckDB SQL over the views clickstream, inventory, ...")],
) -> None:
    """Run DuckDB SQL over the lake (local directory or S3, per the settings) and print the result."""
    from pricing_platform.lake.cli import lake_query_command
    from pricing_platform.localstack.stack import lake_settings

    raise typer.Exit(lake_query_command(sql, lake_settings(get_settings())))


@notebooks_app.command("build")
def notebooks_build(
    execute: Annotated[bool, typer.Option(help="run them on DATABASE_URL (--no-execute: only write)")] = True,
) -> None:
    """Write the funnel, elasticity, RFM and forecasting notebooks to NOTEBOOKS_DIR and execute them."""
    from nbclient.exceptions import CellExecutionError
    from rich.progress import Progress

    from pricing_platform import notebooks

    settings = get_settings()
    paths = notebooks.write(settings.notebooks_dir)
    if not execute:
        console.print(f"wrote {len(paths)} notebooks to {settings.notebooks_dir} (not executed)")
        return
    with Progress(console=console) as progress:
        task = progress.add_task("executing notebooks", total=len(paths))
        for path in paths:
            progress.update(task, description=f"executing {path.name}")
            try:
                executed = notebooks.execute(path, settings.database_conninfo)
            except CellExecutionError as exc:
                console.print(f"[red]{path} failed[/]: {exc.ename}: {exc.evalue}")
                console.print("Is PostgreSQL at DATABASE_URL up and migrated? The analytics tables fill when "
                              "the Dagster analytics_job runs (every 15 minutes with `up`).")  # fmt: skip
                raise typer.Exit(1) from exc
            progress.advance(task)
            console.print(f"{path}: {notebooks.plotly_figures(executed)} charts")
