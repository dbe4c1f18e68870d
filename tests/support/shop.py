"""A realistic shop history in a test database: simulated events of all three streams over the last
hours, landed through the ingest workers' own sinks (the same SQL as in production, without Kafka)."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import dagster as dg
import msgspec
import psycopg

from ingest_workers.offsets import advance
from ingest_workers.sinks import SINKS
from pricing_platform.assets.analytics import analytics_assets
from pricing_platform.core.catalog import COMPETITORS, PRODUCTS_BY_ID, TOPICS, Stream, consumer_group
from pricing_platform.core.settings import Settings, default_settings
from pricing_platform.pricing.cycle import CycleSummary, run_cycle
from pricing_platform.pricing.rules import PricingRules
from pricing_platform.quality.cycles import check_cycle, newest_cycle
from pricing_platform.quality.framework import Thresholds
from pricing_platform.resources import build_resources
from pricing_platform.resources.dbt import DbtResource
from pricing_platform.simulators.simulation import Simulation
from pricing_platform.simulators.world import stepping_clock
from tests.conftest import TEMPLATE_DB
from tests.support.factories import price
from tests.support.servers import PostgresProcess


def fill_shop(
    conninfo: str,
    *,
    seed: int = 7,
    hours: float = 6.0,
    clicks: int = 6000,
    movements: int = 600,
    prices: int = 900,
    group_prefix: str = default_settings().kafka_group_prefix,
) -> dict[Stream, int]:
    """Land `clicks` clickstream events (plus the sales their purchases cause), `movements` inventory
    movements and `prices` competitor observations, spread evenly over the last `hours`, with the ingest
    positions of consumer groups `group_prefix`-<stream> as the workers would store them."""
    span = timedelta(hours=hours)
    start = datetime.now(UTC) - span
    simulation = Simulation(
        list(Stream), seed=seed, clock=stepping_clock(start, span / (clicks + movements + prices))
    )
    events: dict[Stream, list] = {stream: [] for stream in Stream}
    for stream, count in (
        (Stream.COMPETITOR, prices),
        (Stream.INVENTORY, movements),
        (Stream.CLICKSTREAM, clicks),
    ):
        for _ in range(count):
            for sim_stream, _key, event in simulation.step(stream):
                events[sim_stream].append(event)
    # A step can stamp several events (a session, a purchase and its sale), so the clock may run past now:
    # shift everything back rather than land events ingest would refuse as stamped in the future.
    ahead = max(e.timestamp for batch in events.values() for e in batch) - datetime.now(UTC)
    if ahead > timedelta(0):
        events = {
            stream: [msgspec.structs.replace(e, timestamp=e.timestamp - ahead) for e in batch]
            for stream, batch in events.items()
        }
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for stream, batch in events.items():
            # Time order, as a partition would deliver them; the sinks apply stock movements in order.
            batch.sort(key=lambda e: e.timestamp)
            SINKS[stream.value]().write(cur, batch)
            # The workers' stored position, moved in the same transaction as the rows (one partition).
            advance(cur, consumer_group(stream, group_prefix), TOPICS[stream].name, {0: (None, len(batch))})
            # The workers count what they land per commit minute; here each event landed at its time.
            minutes = Counter(event.timestamp.replace(second=0, microsecond=0) for event in batch)
            cur.executemany(
                "INSERT INTO ingest_throughput (stream, minute, events) VALUES (%s, %s, %s)",
                [(stream.value, minute, count) for minute, count in minutes.items()],
            )
    return {stream: len(batch) for stream, batch in events.items()}


_shops = itertools.count(1)


def promote(conn: psycopg.Connection, product_ids: tuple[str, ...], discount: float) -> None:
    """Every competitor observes `product_ids` at base price × (1 − discount) now (through the sink)."""
    events = [
        price(
            product_id,
            competitor,
            str((PRODUCTS_BY_ID[product_id].base_price * Decimal(1 - discount)).quantize(Decimal("0.01"))),
        )
        for product_id in product_ids
        for competitor in COMPETITORS
    ]
    with conn.cursor() as cur:
        SINKS[Stream.COMPETITOR.value]().write(cur, events)


def run_checked_cycle(conninfo: str, settings: Settings | None = None) -> CycleSummary:
    """A pricing cycle, then its recommendation checks, as the sensor would run them: the marts read it
    once it passed."""
    settings = settings or Settings(database_url=conninfo)
    with psycopg.connect(conninfo) as conn:
        summary = run_cycle(conn, PricingRules.from_settings(settings))
        cycle = newest_cycle(conn)
    assert cycle is not None and cycle.cycle_id == summary.cycle_id
    verdict = check_cycle(conninfo, Thresholds.from_settings(settings), cycle)
    assert verdict.passed, verdict.failed
    return summary


def build_shop(postgres: PostgresProcess) -> str:
    """A new database from the migrated template with the shop's history, one pricing cycle (checked, so
    the marts read it), the dbt models and the analytics built: what the dashboard reads. (`dbt run`
    parses the project itself; the install step has prepared it.)"""
    return build_shop_at(postgres.create_database(f"shop_{next(_shops)}", template=TEMPLATE_DB))


def build_shop_at(conninfo: str) -> str:
    """`build_shop` in the migrated, seeded database at `conninfo`."""
    settings = Settings(database_url=conninfo)
    fill_shop(conninfo, group_prefix=settings.kafka_group_prefix)
    with psycopg.connect(conninfo) as conn:
        # The engine lowers only where demand is weak: promote the three products selling least lately.
        quiet = conn.execute(
            "SELECT p.product_id FROM products p "
            "LEFT JOIN clickstream_events c ON c.product_id = p.product_id AND c.event_type = 'purchase' "
            "AND c.event_time > now() - interval '1 hour' "
            "GROUP BY p.product_id ORDER BY count(c.event_id), p.product_id LIMIT 3"
        ).fetchall()
        promote(conn, tuple(row[0] for row in quiet), discount=0.3)
    run_checked_cycle(conninfo, settings)
    built = DbtResource.from_settings(settings).run(["run", "--quiet"])
    assert built.returncode == 0, built.output[-4000:]
    with dg.instance_for_test() as instance:
        result = dg.materialize(analytics_assets, resources=build_resources(settings), instance=instance)
    assert result.success
    return conninfo
