"""Dashboard benchmark: every query of `pricing_platform/dashboard/queries.py` against a busy shop's week,
beside the naive queries the design avoids, page loads cold and warm, and the approval path.

Starts its own PostgreSQL on a free loopback port, migrates a database, seeds the catalog (30 products,
3 warehouses, 3 competitors) and bulk-loads, server-side (INSERT … SELECT over generate_series, rows in
arrival order, time-ordered event ids as the workers write them) or by COPY:

    clickstream_events        N events (default 2,000,000) over the last D days (default 7): sessions of 3–9
                              events (page view first, mean 6), a returning-user pool, 60/30/10 device mix,
                              popular products skewed, ~18 % of sessions end add_to_cart → purchase (~3 % of
                              the events are purchases); ingested_at 50–550 ms after event_time;
    competitor_prices         300,000 observations, 30 products × 3 competitors, evenly spaced with jitter,
                              slow waves around a level per series and occasional promotions;
                              competitor_prices_latest = the newest of each series;
    inventory_events          200,000 movements over the 90 product × warehouse slots (sales, returns,
                              damage, adjustments, restocks at a reorder point; rejected sales when short),
                              inventory_state = their running stock;
    pricing_recommendations   one cycle per minute for D days × 30 products (302,400 rows at 7 days);
    ingest_throughput         per stream and minute, counted from the tables' ingested_at (as the workers do);
    alerts, price_changes, ingest_offsets
                              2,000 alerts over the week (8 open), 60 past approvals, offsets per partition.

Then builds the dbt marts (`dbt run`) and materialises the four analytics assets through Dagster (both
timed), and measures, on connections like the dashboard's (read-only role, autocommit, 15 s statement
timeout), each query in the `QUERIES` registry with the parameters the pages pass: one warm-up, then R runs
(default 20), p50/p95/max milliseconds (p95 = nearest rank) including the DataFrame the page gets, the rows
returned, and from one EXPLAIN ANALYZE the scans and the table rows they read. Baselines, as the owner:
events per minute by scanning the event tables, today's revenue and conversion from clickstream_events, one
product's 24 h histories with index scans disabled. Page loads: the queries of each page, each on a new
connection as `ui._read` opens them, cold (PostgreSQL just restarted: empty shared buffers and backend caches;
the OS page cache is not dropped) and warm (p50 of R). Approvals: `approve()` as the approver role on fresh
`lower` recommendations of different products.

    python benchmarks/dashboard_queries.py [--clicks 2000000] [--days 7] [--runs 20] [--seed 42]
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import typer
from psycopg import sql
from rich.console import Console
from rich.table import Table

from pricing_platform.core import catalog, roles, tables
from pricing_platform.core.settings import Settings, default_settings
from pricing_platform.dashboard import queries as dashboard_queries
from pricing_platform.dashboard.approvals import approve
from pricing_platform.db import migrate
from pricing_platform.db.seed import seed_catalog
from pricing_platform.localstack.ephemeral import PostgresProcess, free_port, server_root
from pricing_platform.localstack.postgres import LocalPostgres
from pricing_platform.resources.dbt import DbtResource
from pricing_platform.transform.project import TARGET_DIR

console = Console(width=None if sys.stdout.isatty() else 180)

HOUR = 3600.0
DAY = 24 * HOUR
PRODUCT = "P001"
# What `ui._read` opens for every query.
DASHBOARD_OPTIONS = "-c statement_timeout=15000"


# ── seeding ──────────────────────────────────────────────────────────────────────────────────────────────

# Event ids are time-ordered (microseconds since the epoch, then random bits), like the workers' UUIDv7s:
# the primary key grows at its right edge as it does in production.
CLICKSTREAM_SQL = """
WITH sessions AS MATERIALIZED (
    SELECT s,
           md5('session:' || s)::uuid AS session_id,
           now() - make_interval(secs => random() * %(span_s)s) AS started,
           'U' || lpad((1 + floor(%(users)s * random() ^ 2))::int::text, 6, '0') AS user_id,
           random() AS r_device,
           1 + floor(30 * random() ^ 1.5)::int AS primary_no,
           3 + floor(random() * 7)::int AS n,
           random() < %(conversion)s AS converts
    FROM generate_series(1, %(sessions)s) AS s
),
events AS MATERIALIZED (
    SELECT x.*, i, random() AS r_type, random() AS r_product, random() AS r_gap, random() AS r_lag
    FROM sessions AS x CROSS JOIN LATERAL generate_series(1, x.n) AS i
),
typed AS (
    SELECT *,
           CASE
               WHEN i = 1 THEN 'page_view'
               WHEN converts AND i = n THEN 'purchase'
               WHEN converts AND i = n - 1 THEN 'add_to_cart'
               WHEN r_type < 0.10 THEN 'page_view'
               WHEN r_type < 0.80 THEN 'product_view'
               WHEN r_type < 0.94 THEN 'add_to_cart'
               ELSE 'remove_from_cart'
           END AS event_type,
           started + make_interval(secs => (i - 1) * 35 + r_gap * 25) AS event_time
    FROM events
),
placed AS (
    SELECT t.*,
           CASE
               WHEN event_type = 'page_view' THEN NULL
               WHEN event_type IN ('purchase', 'add_to_cart') OR r_product < 0.6 THEN primary_no
               ELSE 1 + floor(r_product * 1000)::int %% 30
           END AS product_no
    FROM typed AS t
    WHERE event_time <= now()
    LIMIT %(clicks)s
)
INSERT INTO clickstream_events (event_id, user_id, session_id, event_type, product_id, product_name,
                                product_category, product_price, device_type, event_time, ingested_at)
SELECT (lpad(to_hex((extract(epoch FROM e.event_time) * 1e6)::bigint), 14, '0')
       || substr(md5(random()::text), 1, 18))::uuid,
       e.user_id, e.session_id, e.event_type, p.product_id, p.product_name, p.category, p.current_price,
       CASE WHEN e.r_device < 0.6 THEN 'mobile' WHEN e.r_device < 0.9 THEN 'desktop' ELSE 'tablet' END,
       e.event_time, least(e.event_time + make_interval(secs => 0.05 + e.r_lag * 0.5), now())
FROM placed AS e
LEFT JOIN products AS p ON p.product_id = 'P' || lpad(e.product_no::text, 3, '0')
ORDER BY e.event_time
"""

COMPETITOR_SQL = """
WITH series AS MATERIALIZED (
    SELECT p.product_id, p.current_price, c.competitor_name, c.ord,
           0.90 + 0.20 * random() AS level, 6.283 * random() AS phase
    FROM products AS p CROSS JOIN unnest(%(competitors)s::text[]) WITH ORDINALITY AS c(competitor_name, ord)
    ORDER BY p.product_id, c.ord
),
observed AS MATERIALIZED (
    SELECT s.*, k, random() AS noise, random() AS r_lag,
           now() - make_interval(secs => %(span_s)s)
               + make_interval(secs => (k + 0.2 + 0.6 * random()) * %(step_s)s) AS event_time
    FROM series AS s CROSS JOIN generate_series(0, %(per_series)s - 1) AS k
),
priced AS (
    SELECT *,
           round((current_price * level * (1 + 0.04 * sin(k / 240.0 + phase)) * (1 + 0.01 * (noise - 0.5))
                  * CASE WHEN (k + ord * 331) %% 1000 < 60 THEN 0.82 ELSE 1 END)::numeric, 2)
               AS competitor_price
    FROM observed
)
INSERT INTO competitor_prices (event_id, product_id, competitor_name, competitor_price, our_price,
                               price_difference, price_difference_pct, event_time, ingested_at)
SELECT (lpad(to_hex((extract(epoch FROM event_time) * 1e6)::bigint), 14, '0')
       || substr(md5(random()::text), 1, 18))::uuid,
       product_id, competitor_name, competitor_price, current_price, competitor_price - current_price,
       round((competitor_price - current_price) / current_price * 100, 2), event_time,
       least(event_time + make_interval(secs => 0.05 + r_lag * 0.5), now())
FROM priced
ORDER BY event_time
"""

COMPETITOR_LATEST_SQL = """
INSERT INTO competitor_prices_latest (product_id, competitor_name, event_id, competitor_price, our_price,
                                      price_difference, price_difference_pct, event_time, updated_at)
SELECT DISTINCT ON (product_id, competitor_name) product_id, competitor_name, event_id, competitor_price,
       our_price, price_difference, price_difference_pct, event_time, ingested_at
FROM competitor_prices
ORDER BY product_id, competitor_name, event_time DESC
"""

RECOMMENDATIONS_SQL = """
WITH cycles AS (
    SELECT m, date_trunc('minute', now() - interval '10 seconds') - make_interval(mins => m)
              + interval '1.5 seconds' AS at
    FROM generate_series(0, %(cycles)s - 1) AS m
),
inputs AS (
    SELECT c.m, c.at, p.product_id, p.current_price,
           round((p.current_price * (0.93 + 0.14 * (0.5 + 0.5 * sin(c.m / 180.0
                 + substr(p.product_id, 2)::int))))::numeric, 2) AS competitor_avg,
           floor(8 * random())::int AS velocity, random() AS r_conf
    FROM cycles AS c CROSS JOIN products AS p
),
decided AS (
    SELECT *, round((current_price - competitor_avg) / competitor_avg * 100, 2) AS gap,
           CASE
               WHEN current_price > competitor_avg * 1.04 AND velocity < 3 THEN 'lower'
               WHEN current_price < competitor_avg * 0.96 AND velocity >= 5 THEN 'raise'
               ELSE 'hold'
           END AS recommendation
    FROM inputs
)
INSERT INTO pricing_recommendations (cycle_id, product_id, current_price, competitor_avg_price,
    competitors_seen, price_gap_pct, demand_velocity, recommendation, recommended_price, confidence,
    guardrail, reason, created_at)
SELECT md5('cycle:' || m)::uuid, product_id, current_price, competitor_avg, 3, gap, velocity, recommendation,
       CASE recommendation
           WHEN 'lower' THEN greatest(round(competitor_avg, 0) - 0.01, round(current_price * 0.95, 2))
           WHEN 'raise' THEN round(current_price * 1.05, 0) - 0.01
           ELSE current_price
       END,
       round((0.55 + 0.4 * r_conf)::numeric, 3),
       CASE WHEN recommendation = 'lower' AND current_price * 0.95 > competitor_avg THEN 'max_step' END,
       format('%%s: ours %%s vs competitor average %%s (gap %%s %%%%), %%s purchases in the last hour',
              recommendation, current_price, competitor_avg, gap, velocity),
       at
FROM decided
ORDER BY at, product_id
"""

THROUGHPUT_SQL = """
INSERT INTO ingest_throughput (stream, minute, events, dead_letters)
SELECT stream, minute, sum(events), (sum(events) * 0.0005 * random())::bigint
FROM (
    SELECT 'clickstream' AS stream, date_trunc('minute', ingested_at) AS minute, count(*) AS events
    FROM clickstream_events GROUP BY 2
    UNION ALL
    SELECT 'inventory', date_trunc('minute', ingested_at), count(*) FROM inventory_events GROUP BY 2
    UNION ALL
    SELECT 'competitor', date_trunc('minute', ingested_at), count(*) FROM competitor_prices GROUP BY 2
) AS counted
GROUP BY stream, minute
"""

ALERTS_SQL = """
WITH drawn AS (
    SELECT g, random() AS r_kind, 1 + floor(30 * random())::int AS product_no,
           1 + floor(3 * random())::int AS w,
           now() - make_interval(secs => random() * %(span_s)s) AS opened_at, random() AS r_clear
    FROM generate_series(1, %(alerts)s) AS g
),
kinded AS (
    SELECT *, 'P' || lpad(product_no::text, 3, '0') AS product_id,
           (%(warehouses)s::text[])[w] AS warehouse_id, (%(competitors)s::text[])[w] AS competitor,
           CASE WHEN r_kind < 0.6 THEN 'stock' WHEN r_kind < 0.9 THEN 'competitor_undercut'
                ELSE 'asset_check' END AS kind
    FROM drawn
)
INSERT INTO alerts (condition_key, kind, severity, title, context, opened_at, last_seen_at, cleared_at,
                    notified_at)
SELECT CASE kind WHEN 'stock' THEN 'stock:' || product_id || ':' || warehouse_id
                 WHEN 'competitor_undercut' THEN 'competitor_undercut:' || product_id || ':' || competitor
                 ELSE 'asset_check:dbt/not_null_stg_clickstream_' || product_no END,
       kind,
       CASE WHEN kind = 'stock' AND r_clear < 0.3 THEN 'critical' ELSE 'warning' END,
       CASE kind WHEN 'stock' THEN 'Low stock: ' || product_id || ' at ' || warehouse_id
                 WHEN 'competitor_undercut' THEN competitor || ' undercuts ' || product_id
                 ELSE 'Data-quality check failed' END,
       jsonb_build_object('product_id', product_id, 'warehouse_id', warehouse_id,
                          'hours_left', round((r_clear * 48)::numeric, 1)),
       opened_at, opened_at + make_interval(mins => 1 + floor(r_clear * 90)::int),
       CASE WHEN g > %(open)s THEN opened_at + make_interval(mins => 2 + floor(r_clear * 120)::int) END,
       opened_at + interval '5 seconds'
FROM kinded
ORDER BY opened_at
"""

PRICE_CHANGES_SQL = """
INSERT INTO price_changes (product_id, recommendation_id, old_price, new_price, approved_by, approved_at,
                           note)
SELECT product_id, recommendation_id, current_price, recommended_price,
       'analyst ' || (recommendation_id %% 4),
       created_at + interval '3 minutes', 'seeded by the benchmark'
FROM pricing_recommendations
WHERE recommendation <> 'hold'
ORDER BY md5(recommendation_id::text)
LIMIT %(changes)s
"""

OFFSETS_SQL = """
INSERT INTO ingest_offsets (consumer_group, topic, partition, next_offset, updated_at)
SELECT %(group)s, %(topic)s, p, %(per_partition)s, now() - make_interval(secs => random() * 2)
FROM generate_series(0, %(partitions)s - 1) AS p
"""


@dataclass
class World:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    purchases: int = 0
    sessions: int = 0
    converted_sessions: int = 0


def inventory_frame(rng: np.random.Generator, now: float, span_s: float, total: int) -> pd.DataFrame:
    """`total` movements over the 90 slots, applied in time order to a running stock that starts at the
    opening balance: sales of 1–2 (rejected when short), returns, damage, adjustments, and a restock of
    150–300 units after a lead time once the stock falls below the reorder point."""
    slots = [(p.product_id, w) for p in catalog.PRODUCTS for w in catalog.WAREHOUSES]
    per_slot = np.full(len(slots), total // len(slots))
    per_slot[: total % len(slots)] += 1
    columns: dict[str, list[Any]] = {k: [] for k in ("product_id", "warehouse_id", "event_type", "quantity")}
    columns |= {"status": [], "stock_after": [], "reject_reason": [], "age_s": []}
    for (product_id, warehouse_id), n in zip(slots, per_slot, strict=True):
        ages = np.sort(rng.uniform(0, span_s, n))[::-1]
        kinds = rng.random(n)
        sizes = rng.integers(1, 3, n)
        stock, pending = catalog.INITIAL_STOCK, -1
        for i in range(n):
            if pending == i:
                kind, change = "stock_received", int(rng.integers(150, 301))
                pending = -1
            elif kinds[i] < 0.90:
                kind, change = "sale", -int(sizes[i])
            elif kinds[i] < 0.95:
                kind, change = "stock_returned", 1
            elif kinds[i] < 0.98:
                kind, change = "stock_damaged", -1
            else:
                kind, change = "manual_adjustment", int(sizes[i]) * (1 if kinds[i] < 0.99 else -1)
            if stock + change < 0:
                status, reason = "rejected", "insufficient stock"
            else:
                status, reason, stock = "applied", None, stock + change
            if stock < 60 and pending < 0:
                pending = min(i + 25, n - 1)  # lead time: the restock arrives 25 movements later
            for key, value in (
                ("product_id", product_id), ("warehouse_id", warehouse_id), ("event_type", kind),
                ("quantity", change), ("status", status), ("stock_after", stock), ("reject_reason", reason),
                ("age_s", ages[i]),
            ):  # fmt: skip
                columns[key].append(value)
    ages = np.array(columns.pop("age_s"))
    frame = pd.DataFrame(columns).rename(columns={"quantity": "quantity_change"})
    micros = np.round((now - ages) * 1e6).astype("datetime64[us]")
    lag = (rng.uniform(0.05, 0.55, len(frame)) * 1e6).astype("timedelta64[us]")
    frame["event_time"] = np.datetime_as_string(micros, unit="us", timezone="UTC")
    frame["ingested_at"] = np.datetime_as_string(
        np.minimum(micros + lag, micros.max()), unit="us", timezone="UTC"
    )
    order = np.argsort(micros, kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    # Time-ordered ids, as for the other streams.
    ids = [
        uuid.UUID(int=(int(m) << 64) | int(r))
        for m, r in zip(micros[order].astype(np.int64), rng.integers(0, 2**62, len(frame)), strict=True)
    ]
    frame.insert(0, "event_id", [str(i) for i in ids])
    return frame


def copy_frame(cur: psycopg.Cursor, table: str, frame: pd.DataFrame) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    )
    with cur.copy(statement) as copy:
        copy.write(frame.to_csv(header=False, index=False))


def seed(
    conninfo: str, clicks: int, competitor_rows: int, inventory_rows: int, days: int, rng_seed: int
) -> World:
    world = World()
    span_s = days * DAY
    rng = np.random.default_rng(rng_seed)

    def step(name: str, fn: Callable[[psycopg.Cursor], None]) -> None:
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            fn(cur)
        world.seconds[name] = time.perf_counter() - started

    with psycopg.connect(conninfo, autocommit=True) as conn:
        for setting in ("synchronous_commit = off", "work_mem = '256MB'", "maintenance_work_mem = '512MB'"):
            conn.execute(f"SET {setting}")
        conn.execute("SELECT setseed(%s)", ((rng_seed % 1000) / 1000,))
        step("catalog", lambda cur: seed_catalog(conn))
        sessions = math.ceil(clicks / 6 * 1.01) + 10
        step(
            "clickstream_events",
            lambda cur: cur.execute(
                CLICKSTREAM_SQL,
                {
                    "span_s": span_s,
                    "users": 150_000,
                    "conversion": 0.18,
                    "sessions": sessions,
                    "clicks": clicks,
                },
            ),
        )
        per_series = max(1, competitor_rows // (len(catalog.PRODUCTS) * len(catalog.COMPETITORS)))
        step(
            "competitor_prices (+ latest)",
            lambda cur: (
                cur.execute(
                    COMPETITOR_SQL,
                    {
                        "competitors": list(catalog.COMPETITORS),
                        "span_s": span_s,
                        "step_s": span_s / per_series,
                        "per_series": per_series,
                    },
                ),
                cur.execute(COMPETITOR_LATEST_SQL),
            ),
        )

        def inventory(cur: psycopg.Cursor) -> None:
            # The opening balances (seeded at now()) move to the start of the history they open.
            cur.execute(
                "UPDATE inventory_events SET event_time = now() - make_interval(secs => %s), "
                "ingested_at = now() - make_interval(secs => %s) WHERE event_type = 'stock_received'",
                (span_s + 60, span_s + 60),
            )
            frame = inventory_frame(rng, time.time(), span_s, inventory_rows)
            copy_frame(cur, tables.INVENTORY_EVENTS, frame)
            final = frame.groupby(["product_id", "warehouse_id"])["stock_after"].last().reset_index()
            cur.executemany(
                "UPDATE inventory_state SET current_stock = %s, updated_at = now() "
                "WHERE product_id = %s AND warehouse_id = %s",
                [(int(r.stock_after), r.product_id, r.warehouse_id) for r in final.itertuples()],
            )

        step("inventory_events (+ state)", inventory)
        step("pricing_recommendations", lambda cur: cur.execute(RECOMMENDATIONS_SQL, {"cycles": days * 1440}))
        step("ingest_throughput", lambda cur: cur.execute(THROUGHPUT_SQL))

        def rest(cur: psycopg.Cursor) -> None:
            cur.execute(
                ALERTS_SQL,
                {
                    "span_s": span_s, "alerts": 2000, "open": 8, "warehouses": list(catalog.WAREHOUSES),
                    "competitors": list(catalog.COMPETITORS),
                },
            )  # fmt: skip
            cur.execute(PRICE_CHANGES_SQL, {"changes": 60})
            for stream, topic in catalog.TOPICS.items():
                cur.execute(
                    OFFSETS_SQL,
                    {
                        "group": catalog.consumer_group(stream, default_settings().kafka_group_prefix),
                        "topic": topic.name,
                        "partitions": topic.partitions, "per_partition": 100_000,
                    },
                )  # fmt: skip

        step("alerts, price_changes, ingest_offsets", rest)
        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        world.seconds["VACUUM (ANALYZE)"] = time.perf_counter() - started

        for table in (
            tables.CLICKSTREAM_EVENTS, tables.COMPETITOR_PRICES, tables.COMPETITOR_PRICES_LATEST,
            tables.INVENTORY_EVENTS, tables.PRICING_RECOMMENDATIONS, tables.INGEST_THROUGHPUT, tables.ALERTS,
            tables.PRICE_CHANGES,
        ):  # fmt: skip
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            world.rows[table] = conn.execute(query).fetchone()[0]  # type: ignore[index]
        world.purchases, world.sessions, world.converted_sessions = conn.execute(
            "SELECT count(*) FILTER (WHERE event_type = 'purchase'), count(DISTINCT session_id), "
            "count(DISTINCT session_id) FILTER (WHERE event_type = 'purchase') FROM clickstream_events"
        ).fetchone()  # type: ignore[misc]
    return world


# ── building the marts and analytics ─────────────────────────────────────────────────────────────────────


def build_dbt(settings: Settings) -> tuple[float, dict[str, float]]:
    dbt = DbtResource.from_settings(settings)
    dbt.prepare()
    started = time.perf_counter()
    target = TARGET_DIR / "bench-dashboard"
    result = dbt.run(["run", "--quiet"], target_path=target)
    if result.returncode != 0:
        raise SystemExit(f"dbt run failed:\n{result.output[-4000:]}")
    seconds = time.perf_counter() - started
    models: dict[str, float] = {}
    results = target / "run_results.json"
    if results.exists():
        for result in json.loads(results.read_text()).get("results", []):
            models[result["unique_id"].rsplit(".", 1)[-1]] = float(result.get("execution_time") or 0.0)
    return seconds, models


def build_analytics(conninfo: str) -> tuple[float, dict[str, float]]:
    import dagster as dg

    from pricing_platform.assets.analytics import analytics_assets
    from pricing_platform.resources.postgres import PostgresResource

    with dg.instance_for_test() as instance:
        started = time.perf_counter()
        result = dg.materialize(
            analytics_assets,
            resources={"postgres": PostgresResource(conninfo=conninfo)},
            instance=instance,
            # The step timings come from the event log below; the console gets warnings only.
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        seconds = time.perf_counter() - started
        if not result.success:
            raise RuntimeError("analytics materialisation failed")
        starts: dict[str, float] = {}
        steps: dict[str, float] = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None or entry.step_key is None:
                continue
            if event.event_type_value == "STEP_START":
                starts[entry.step_key] = entry.timestamp
            elif event.event_type_value == "STEP_SUCCESS":
                steps[entry.step_key] = entry.timestamp - starts[entry.step_key]
    return seconds, steps


# ── measuring ────────────────────────────────────────────────────────────────────────────────────────────

# The statement and parameters of the last query a dashboard function sent (for its EXPLAIN).
_LAST: list[tuple[Any, Any]] = []


class RecordingCursor(psycopg.Cursor):
    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> RecordingCursor:  # type: ignore[override]
        _LAST[:] = [(query, params)]
        return super().execute(query, params, **kwargs)


def frame_of(conn: psycopg.Connection, statement: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """A baseline's rows as a DataFrame, as the dashboard's `_frame` builds them."""
    with conn.cursor() as cur:
        cur.execute(statement, params or {})
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description or []])


@dataclass
class Timing:
    name: str
    samples_s: list[float]
    rows: int
    scans: str = ""
    rows_read: int = 0
    page: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_s)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples_s)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


SHORT_SCAN = {
    "Seq Scan": "seq",
    "Index Scan": "idx",
    "Index Only Scan": "idx-only",
    "Bitmap Heap Scan": "bitmap",
}


def bitmap_indexes(node: dict[str, Any]) -> list[str]:
    names = []
    for child in node.get("Plans", []):
        if child["Node Type"] == "Bitmap Index Scan":
            names.append(child["Index Name"])
        else:
            names.extend(bitmap_indexes(child))
    return names


def plan_scans(conn: psycopg.Connection, statement: Any, params: Any) -> tuple[str, int]:
    """The table scans of one EXPLAIN ANALYZE and the rows they read (returned + filtered out)."""
    explain = sql.SQL("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ") + (
        statement if isinstance(statement, sql.Composable) else sql.SQL(statement)
    )
    plan = conn.execute(explain, params or {}).fetchone()[0]  # type: ignore[index]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    scans: list[str] = []
    rows = 0

    def walk(node: dict[str, Any]) -> None:
        nonlocal rows
        if "Relation Name" in node:
            label = f"{SHORT_SCAN.get(node['Node Type'], node['Node Type'])} {node['Relation Name']}"
            # Which index: its own, or for a bitmap scan the index scans under it.
            indexes = [node["Index Name"]] if "Index Name" in node else bitmap_indexes(node)
            if indexes:
                label += f" ({', '.join(indexes)})"
            if label not in scans:
                scans.append(label)
            loops = node.get("Actual Loops", 1)
            read = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
            rows += int(read * loops)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return ", ".join(scans), rows


def repeat(fn: Callable[[], pd.DataFrame], runs: int) -> tuple[list[float], int]:
    fn()  # warm-up
    samples, rows = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        frame = fn()
        samples.append(time.perf_counter() - started)
        rows = len(frame)
    return samples, rows


def measure_queries(
    reader: str, pages: dict[str, list[tuple[str, dict[str, Any]]]], runs: int
) -> list[Timing]:
    timings = []
    with psycopg.connect(
        reader, autocommit=True, options=DASHBOARD_OPTIONS, cursor_factory=RecordingCursor
    ) as conn:
        for page, calls in pages.items():
            for name, params in calls:
                query = dashboard_queries.QUERIES[name]
                samples, rows = repeat(lambda q=query, p=params: q(conn, **p), runs)
                scans, read = plan_scans(conn, *_LAST[0])
                timings.append(Timing(name, samples, rows, scans, read, page))
    return timings


BASELINE_BY_INGESTED_AT = """
SELECT stream, minute, count(*) AS events FROM (
    SELECT 'clickstream' AS stream, date_trunc('minute', ingested_at) AS minute FROM clickstream_events
    WHERE ingested_at > now() - make_interval(mins => %(minutes)s)
    UNION ALL
    SELECT 'inventory', date_trunc('minute', ingested_at) FROM inventory_events
    WHERE ingested_at > now() - make_interval(mins => %(minutes)s)
    UNION ALL
    SELECT 'competitor', date_trunc('minute', ingested_at) FROM competitor_prices
    WHERE ingested_at > now() - make_interval(mins => %(minutes)s)
) AS landed GROUP BY stream, minute ORDER BY minute, stream
"""
BASELINE_BY_EVENT_TIME = BASELINE_BY_INGESTED_AT.replace("ingested_at", "event_time")
BASELINE_TODAY = """
SELECT coalesce(sum(revenue), 0)::float8 AS revenue, coalesce(sum(purchases), 0)::bigint AS purchases,
       count(*) AS sessions, count(*) FILTER (WHERE purchases > 0) AS converted_sessions
FROM (
    SELECT session_id, count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
           sum(product_price) FILTER (WHERE event_type = 'purchase') AS revenue
    FROM clickstream_events
    WHERE event_time >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    GROUP BY session_id
) AS sessions
"""


def measure_baselines(owner: str, runs: int) -> list[tuple[Timing, str]]:
    """(timing, the dashboard query it stands in for)."""
    results = []
    with psycopg.connect(owner, autocommit=True, cursor_factory=RecordingCursor) as conn:
        for name, statement, params, instead_of in (
            (
                "events/min by stream, 30 min: GROUP BY minute of ingested_at over the 3 event tables",
                BASELINE_BY_INGESTED_AT, {"minutes": 30}, "throughput",
            ),
            (
                "events/min by stream, 30 min: GROUP BY minute of event_time (time indexes)",
                BASELINE_BY_EVENT_TIME, {"minutes": 30}, "throughput",
            ),
            (
                "today's revenue, purchases, sessions, conversion from clickstream_events",
                BASELINE_TODAY, {}, "revenue_and_conversion",
            ),
        ):  # fmt: skip
            samples, rows = repeat(lambda s=statement, p=params: frame_of(conn, s, p), runs)
            scans, read = plan_scans(conn, statement, params)
            results.append((Timing(name, samples, rows, scans, read), instead_of))
    with psycopg.connect(owner, autocommit=True, cursor_factory=RecordingCursor) as conn:
        conn.execute("SET enable_indexscan = off")
        conn.execute("SET enable_bitmapscan = off")
        for name, label in (
            ("competitor_price_history", f"{PRODUCT} competitor prices 24 h, index and bitmap scans off"),
            ("our_price_history", f"{PRODUCT} our price 24 h, index and bitmap scans off"),
        ):
            query = dashboard_queries.QUERIES[name]
            samples, rows = repeat(lambda q=query: q(conn, product_id=PRODUCT, hours=24), runs)
            scans, read = plan_scans(conn, *_LAST[0])
            results.append((Timing(label, samples, rows, scans, read), name))
    return results


@dataclass
class PageLoad:
    page: str
    queries: int
    cold_query_s: float
    cold_total_s: float
    warm_query_s: list[float]
    warm_total_s: list[float]


def load_page(reader: str, calls: list[tuple[str, dict[str, Any]]]) -> tuple[float, float]:
    """(sum of the query times, the same with a new connection per query as `ui._read` opens them)."""
    queries_s = 0.0
    started = time.perf_counter()
    for name, params in calls:
        with psycopg.connect(reader, connect_timeout=5, autocommit=True, options=DASHBOARD_OPTIONS) as conn:
            query_started = time.perf_counter()
            dashboard_queries.QUERIES[name](conn, **params)
            queries_s += time.perf_counter() - query_started
    return queries_s, time.perf_counter() - started


def measure_pages(
    pg: PostgresProcess, reader: str, pages: dict[str, list[tuple[str, dict[str, Any]]]], runs: int
) -> list[PageLoad]:
    loads = []
    for page, calls in pages.items():
        pg.stop()
        pg.start()
        cold_query, cold_total = load_page(reader, calls)
        warm = [load_page(reader, calls) for _ in range(runs + 1)][1:]
        loads.append(
            PageLoad(page, len(calls), cold_query, cold_total, [w[0] for w in warm], [w[1] for w in warm])
        )
    return loads


@dataclass
class Approvals:
    full_s: list[float]
    connect_s: list[float]
    function_s: list[float]
    products: int


def new_recommendation(owner: psycopg.Connection, product_id: str) -> int:
    """A fresh `lower` recommendation priced from the product's price now, as a cycle would write it."""
    return owner.execute(
        "INSERT INTO pricing_recommendations (cycle_id, product_id, current_price, competitor_avg_price, "
        "competitors_seen, price_gap_pct, demand_velocity, recommendation, recommended_price, confidence, "
        "reason) SELECT %s, product_id, current_price, round(current_price * 0.95, 2), 3, 5.26, 0, 'lower', "
        "round(current_price * 0.97, 2), 0.8, 'benchmark: lower' FROM products WHERE product_id = %s "
        "RETURNING recommendation_id",
        (uuid.uuid4(), product_id),
    ).fetchone()[0]  # type: ignore[index]


def measure_approvals(owner_conninfo: str, approver: str, runs: int) -> Approvals:
    products = [p.product_id for p in catalog.PRODUCTS]
    if runs + 1 > len(products):
        raise ValueError(
            f"--runs {runs}: approvals need one product each (+1 warm-up), {len(products)} exist"
        )
    result = Approvals([], [], [], runs)
    with psycopg.connect(owner_conninfo, autocommit=True) as owner:
        base = dict(owner.execute("SELECT product_id, current_price FROM products").fetchall())
        # The whole path, as the Pricing page calls it: connect as the approver, run the function.
        for i, product_id in enumerate([products[-1], *products[:runs]]):
            recommendation = new_recommendation(owner, product_id)
            started = time.perf_counter()
            change = approve(approver, recommendation, "benchmark analyst", "benchmark approval")
            seconds = time.perf_counter() - started
            if change.product_id != product_id or change.new_price == change.old_price:
                raise RuntimeError(f"approval of {recommendation} did not change {product_id}: {change}")
            if i:
                result.full_s.append(seconds)
        # Its parts: a connection as the approver alone, and the function on an open connection.
        for _ in range(runs):
            started = time.perf_counter()
            with psycopg.connect(approver, connect_timeout=5):
                result.connect_s.append(time.perf_counter() - started)
        owner.cursor().executemany(
            "UPDATE products SET current_price = %s WHERE product_id = %s", [(v, k) for k, v in base.items()]
        )
        with psycopg.connect(approver) as conn:
            for product_id in products[:runs]:
                recommendation = new_recommendation(owner, product_id)
                started = time.perf_counter()
                conn.execute(
                    "SELECT * FROM approve_recommendation(%s, %s, %s)", (recommendation, "benchmark", None)
                ).fetchone()
                conn.commit()
                result.function_s.append(time.perf_counter() - started)
        owner.cursor().executemany(
            "UPDATE products SET current_price = %s WHERE product_id = %s", [(v, k) for k, v in base.items()]
        )
    return result


# ── report ───────────────────────────────────────────────────────────────────────────────────────────────


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 1 else f"{seconds:,.2f} s"


def machine_facts() -> dict[str, str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": f"{len(os.sched_getaffinity(0))} usable (os.cpu_count() {os.cpu_count()}), {model}",
        "memory": f"{memory:,.1f} GiB",
        "Python": f"{platform.python_version()} on {platform.system()} {platform.release()}",
    }


def report_setup(facts: dict[str, str], world: World, sizes: list[tuple[str, int, str]]) -> None:
    table = Table("fact", "value", title="machine and data")
    for key, value in facts.items():
        table.add_row(key, value)
    clicks = world.rows[tables.CLICKSTREAM_EVENTS]
    table.add_row(
        "clickstream",
        f"{clicks:,} events, {world.sessions:,} sessions, {world.purchases:,} purchases "
        f"({world.purchases / max(clicks, 1):.1%} of events), session conversion "
        f"{world.converted_sessions / max(world.sessions, 1):.1%}",
    )
    table.add_row("seeding", " · ".join(f"{k} {fmt_s(v)}" for k, v in world.seconds.items()))
    console.print(table)
    sized = Table("relation", "rows", "size (table + indexes)", title="database after the build")
    for name, rows, size in sizes:
        sized.add_row(name, f"{rows:,}", size)
    console.print(sized)


def report_build(dbt_s: float, models: dict[str, float], analytics_s: float, steps: dict[str, float]) -> None:
    table = Table("step", "seconds", title="building what the dashboard reads")
    table.add_row("[bold]dbt run (all models, wall, incl. dbt start-up)", f"{dbt_s:.2f}")
    for model, seconds in models.items():
        table.add_row(f"  {model}", f"{seconds:.2f}")
    table.add_row("[bold]dg.materialize(analytics_assets) (wall)", f"{analytics_s:.2f}")
    for step, seconds in steps.items():
        table.add_row(f"  {step}", f"{seconds:.2f}")
    console.print(table)


def report_queries(timings: list[Timing], runs: int) -> None:
    table = Table(
        "page", "query", "p50 ms", "p95 ms", "max ms", "rows", "table rows read", "scans",
        title=f"dashboard queries as {roles.DASHBOARD_READER} (1 warm-up + {runs} runs, DataFrame included)",
    )  # fmt: skip
    for t in timings:
        table.add_row(
            t.page, t.name, ms(t.p50), ms(t.p95), ms(max(t.samples_s)), f"{t.rows:,}", f"{t.rows_read:,}",
            t.scans,
        )  # fmt: skip
    console.print(table)


def report_baselines(baselines: list[tuple[Timing, str]], timings: list[Timing], runs: int) -> None:
    design = {t.name: t for t in timings}
    table = Table(
        "naive query (owner role)", "p50 ms", "p95 ms", "max ms", "rows", "table rows read", "scans",
        "instead of", "× its p50",
        title=f"baselines: what the design avoids (1 warm-up + {runs} runs)",
    )  # fmt: skip
    for t, instead_of in baselines:
        table.add_row(
            t.name, ms(t.p50), ms(t.p95), ms(max(t.samples_s)), f"{t.rows:,}", f"{t.rows_read:,}", t.scans,
            f"{instead_of} ({ms(design[instead_of].p50)} ms)", f"{t.p50 / design[instead_of].p50:,.1f}×",
        )  # fmt: skip
    console.print(table)


def report_pages(loads: list[PageLoad], runs: int) -> None:
    table = Table(
        "page", "queries", "cold: queries ms", "cold: + connects ms", "warm p50: queries ms",
        "warm p50: + connects ms", "warm max: + connects ms",
        title=f"page loads: sum of the page's queries (cold: PostgreSQL restarted; warm: p50 of {runs})",
    )  # fmt: skip
    for p in loads:
        table.add_row(
            p.page, str(p.queries), ms(p.cold_query_s), ms(p.cold_total_s),
            ms(statistics.median(p.warm_query_s)), ms(statistics.median(p.warm_total_s)),
            ms(max(p.warm_total_s)),
        )  # fmt: skip
    console.print(table)


def report_approvals(a: Approvals) -> None:
    table = Table(
        "approval", "p50 ms", "p95 ms", "max ms", title=f"approving a price ({a.products} products)"
    )
    for name, samples in (
        (f"approve(): connect as {roles.PRICE_APPROVER} + approve_recommendation + commit", a.full_s),
        (f"  of which: a connection as {roles.PRICE_APPROVER} alone", a.connect_s),
        ("  of which: approve_recommendation + commit on an open connection", a.function_s),
    ):
        t = Timing(name, samples, 0)
        table.add_row(name, ms(t.p50), ms(t.p95), ms(max(samples)))
    console.print(table)


def relation_sizes(conn: psycopg.Connection, marts_schema: str) -> list[tuple[str, int, str]]:
    """The marts and the public tables of 1,000 rows or more: exact rows, size with indexes."""
    relations = conn.execute(
        "SELECT c.oid::regclass::text, pg_size_pretty(pg_total_relation_size(c.oid)) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'r' AND (n.nspname = %s OR (n.nspname = 'public' AND c.reltuples >= 1000)) "
        "ORDER BY pg_total_relation_size(c.oid) DESC",
        (marts_schema,),
    ).fetchall()
    # The names come from pg_class (regclass text is quoted where needed).
    return [
        (name, conn.execute(sql.SQL("SELECT count(*) FROM ") + sql.SQL(name)).fetchone()[0], size)  # type: ignore[index]
        for name, size in relations
    ]


def pages_for(marts_schema: str) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Each page's queries with the parameters its view passes (pricing_platform/dashboard/views/)."""
    history = {"product_id": PRODUCT, "hours": 24}
    pages: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "Overview": [
            ("throughput", {"minutes": 30}), ("revenue_and_conversion", {"marts_schema": marts_schema}),
            ("recommendation_counts", {}), ("open_alerts", {}),
        ],
        "Pricing": [
            ("latest_recommendations", {}), ("our_price_history", history),
            ("competitor_price_history", history), ("price_changes", {}),
        ],
        "Inventory": [("stock_levels", {}), ("open_stock_alerts", {}), ("stockout_risk", {})],
        "Competitors": [("competitor_landscape", {"max_age_s": Settings().pricing_staleness_s})],
        "Funnel": [
            ("funnel_stages", {}), ("funnel_by_category", {"marts_schema": marts_schema, "days": 7}),
            ("funnel_breakdown", {}), ("session_profiles", {}),
        ],
        "Price elasticity": [("elasticity_summary", {}), ("price_position", {})],
        "Customer segments": [("rfm_segments", {}), ("rfm_scores", {})],
        # The view reads demand_forecast twice; the second read is a Streamlit cache hit.
        "Demand forecast": [("demand_hourly", {}), ("demand_forecast", {}), ("demand_heatmap", {})],
    }  # fmt: skip
    return pages


def main(
    clicks: int = typer.Option(2_000_000, min=1000, help="clickstream events to seed"),
    competitor_prices: int = typer.Option(300_000, min=90, help="competitor price observations"),
    inventory_events: int = typer.Option(200_000, min=90, help="inventory movements"),
    days: int = typer.Option(7, min=1, max=30, help="days of history (one pricing cycle per minute)"),
    runs: int = typer.Option(20, min=3, max=29, help="measured runs per query (after one warm-up)"),
    rng_seed: int = typer.Option(42, "--seed", help="seed of the synthetic data"),
) -> None:
    begun = time.perf_counter()
    root = server_root("pricing-bench-dashboard-")
    log_dir = Path("test-artifacts/benchmark")
    log_dir.mkdir(parents=True, exist_ok=True)
    pg = PostgresProcess(LocalPostgres(root / "pg", free_port()), log_dir / "postgres-dashboard.log")
    phases: dict[str, float] = {}

    def phase(name: str, started: float) -> None:
        phases[name] = time.perf_counter() - started

    try:
        started = time.perf_counter()
        with console.status("starting PostgreSQL and migrating"):
            pg.start()
            pg.server.ensure_role_and_database("pricing", "bench_dashboard")
            conninfo = pg.conninfo("bench_dashboard")
            migrate.upgrade(conninfo)
        phase("start + migrate", started)
        settings = Settings(database_url=conninfo)
        marts = settings.dbt_marts_schema
        reader = roles.role_conninfo(conninfo, roles.DASHBOARD_READER)
        approver = roles.role_conninfo(conninfo, roles.PRICE_APPROVER)
        pages = pages_for(marts)
        off_page: dict[str, list[tuple[str, dict]]] = {}
        covered = {name for calls in (*pages.values(), *off_page.values()) for name, _ in calls}
        if missing := set(dashboard_queries.QUERIES) - covered:
            raise SystemExit(f"queries not measured (add them to pages_for): {sorted(missing)}")

        started = time.perf_counter()
        with console.status(f"seeding {clicks:,} clickstream events over {days} days and the rest"):
            world = seed(conninfo, clicks, competitor_prices, inventory_events, days, rng_seed)
        phase("seed", started)
        started = time.perf_counter()
        with console.status("dbt run"):
            dbt_s, models = build_dbt(settings)
        with console.status("materialising the analytics assets"):
            analytics_s, steps = build_analytics(conninfo)
        phase("dbt + analytics (incl. dbt parse, imports)", started)
        with psycopg.connect(conninfo) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0].split()[0]  # type: ignore[index]
            buffers = conn.execute("SHOW shared_buffers").fetchone()[0]  # type: ignore[index]
            sizes = relation_sizes(conn, marts)
            now_utc = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]

        started = time.perf_counter()
        with console.status(f"dashboard queries × {runs + 1}"):
            timings = measure_queries(reader, {**pages, **off_page}, runs)
        phase("dashboard queries", started)
        started = time.perf_counter()
        with console.status(f"baselines × {runs + 1}"):
            baselines = measure_baselines(conninfo, runs)
        phase("baselines", started)
        started = time.perf_counter()
        with console.status("page loads, cold (restarting PostgreSQL per page) and warm"):
            loads = measure_pages(pg, reader, pages, runs)
        phase("page loads (8 restarts)", started)
        started = time.perf_counter()
        with console.status("approvals"):
            approvals = measure_approvals(conninfo, approver, runs)
        phase("approvals", started)
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)

    facts = machine_facts()
    facts["PostgreSQL"] = f"{version} (own server, shared_buffers {buffers}, data on {root.parent})"
    day_share = (now_utc.astimezone(UTC) - now_utc.astimezone(UTC).replace(hour=0, minute=0, second=0,
                 microsecond=0)).total_seconds() / DAY  # fmt: skip
    facts["run at"] = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC ('today' = the first {day_share:.0%} of the UTC day)"
    )
    report_setup(facts, world, sizes)
    report_build(dbt_s, models, analytics_s, steps)
    report_queries(timings, runs)
    report_baselines(baselines, timings, runs)
    report_pages(loads, runs)
    report_approvals(approvals)
    total = time.perf_counter() - begun
    console.print(
        "phases: "
        + " · ".join(f"{k} {fmt_s(v)}" for k, v in phases.items())
        + f" · [bold]total {fmt_s(total)}"
    )


if __name__ == "__main__":
    typer.run(main)
