"""A realistic shop history in a test database: simulated events of all three streams over the last
hours, landed through the ingest workers' own sinks (the same SQL as in production, without Kafka)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from ingest_workers.sinks import SINKS
from pricing_platform.catalog import Stream
from pricing_platform.simulators.simulation import Simulation
from pricing_platform.simulators.world import stepping_clock


def fill_shop(
    conninfo: str,
    *,
    seed: int = 7,
    hours: float = 6.0,
    clicks: int = 6000,
    movements: int = 600,
    prices: int = 900,
) -> dict[Stream, int]:
    """Land `clicks` clickstream events (plus the sales their purchases cause), `movements` inventory
    movements and `prices` competitor observations, spread evenly over the last `hours`."""
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
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for stream, batch in events.items():
            # Time order, as a partition would deliver them; the sinks apply stock movements in order.
            batch.sort(key=lambda e: e.timestamp)
            SINKS[stream.value]().write(cur, batch)
    return {stream: len(batch) for stream, batch in events.items()}
