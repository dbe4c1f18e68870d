"""dbt marts benchmark: what one run of the five-minute marts job costs on a busy week, full against
incremental, and proof that the incremental result equals a full rebuild.

Starts its own PostgreSQL, seeds the busy week of `benchmarks/dashboard_queries.py` (2,000,000 clickstream
events over 7 days and the rest), then:

1. full build     `dbt build --full-refresh` (every model rebuilt from the raw tables, every test);
2. five minutes   inserts the clickstream of five busy minutes landing now (the week's rate), plus late
                  and out-of-order events: a session from two days ago gaining an earlier first event
                  (it moves to another day), events for last week's hours, a burst in reverse time order;
3. the job        the five-minute job's command (`JOB_ARGS`, as `assets/dbt.py` runs it), timed: the sum of
                  `execution_time` of the models in run_results.json, of the tests, and the wall time of
                  the dbt process (start-up and parsing included);
4. the check      copies the marts, runs `dbt run --full-refresh`, and compares every mart row by row
                  (the columns that move with the clock, the last-24-hour figures and price ages, left out).

    python benchmarks/dbt_marts.py [--clicks 2000000] [--days 7] [--seed 42]
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import typer
from psycopg import sql
from rich.console import Console
from rich.table import Table

from pricing_platform.assets.dbt import JOB_ARGS
from pricing_platform.core import tables
from pricing_platform.core.settings import Settings
from pricing_platform.db import migrate
from pricing_platform.localstack.ephemeral import PostgresProcess, free_port, server_root
from pricing_platform.localstack.postgres import LocalPostgres
from pricing_platform.resources.dbt import DbtResource

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard_queries import seed

console = Console(width=None if sys.stdout.isatty() else 160)
# Columns that depend on now(): a rebuild a few seconds later may differ there.
CLOCK_COLUMNS = {"purchases_last_24h", "revenue_last_24h", "age_s", "is_fresh"}


def run_dbt(
    dbt: DbtResource, args: list[str], target: Path
) -> tuple[float, dict[str, float], dict[str, float]]:
    """Runs dbt; returns wall seconds and execution_time per model and per test."""
    started = time.perf_counter()
    result = dbt.run(args, target_path=target)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed:\n{result.output[-4000:]}")
    models: dict[str, float] = {}
    tests: dict[str, float] = {}
    for entry in json.loads((target / "run_results.json").read_text())["results"]:
        kind, _, name = entry["unique_id"].partition(".")
        (models if kind == "model" else tests)[name.split(".", 1)[-1]] = float(entry["execution_time"] or 0)
    return wall, models, tests


def five_busy_minutes(conninfo: str, per_minute: int) -> int:
    """The clickstream of five minutes landing now, plus late and out-of-order events; returns the count."""
    with psycopg.connect(conninfo) as conn:
        # Now: sessions of the week's shape, copied from the newest events and shifted to the last 5 minutes.
        conn.execute(
            """
            INSERT INTO clickstream_events (event_id, user_id, session_id, event_type, product_id,
                product_name, product_category, product_price, device_type, event_time)
            SELECT gen_random_uuid(), user_id, md5(session_id::text || 'now')::uuid, event_type, product_id,
                   product_name, product_category, product_price, device_type,
                   now() - random() * interval '5 minutes'
            FROM clickstream_events ORDER BY event_time DESC LIMIT %s
            """,
            (per_minute * 5,),
        )
        # Late: a session from two days ago gains an earlier first event (it starts a day earlier now),
        # last week's hours gain events, and a burst arrives in reverse time order.
        session, user = conn.execute(
            "SELECT session_id, user_id FROM clickstream_events "
            "WHERE event_time < now() - interval '2 days' ORDER BY event_time DESC LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        late = [(session, user, "page_view", None, now_minus(days=3))]
        late += [
            (uuid.uuid4(), f"U{i:06d}", "product_view", f"P00{1 + i % 9}", now_minus(days=6, hours=i))
            for i in range(48)
        ]
        burst = uuid.uuid4()
        kinds = ["purchase", "add_to_cart", "product_view", "page_view"]
        late += [
            (burst, "U000042", kind, "P003", now_minus(hours=30, minutes=i)) for i, kind in enumerate(kinds)
        ]
        conn.cursor().executemany(
            """
            INSERT INTO clickstream_events (event_id, user_id, session_id, event_type, product_id,
                product_name, product_category, product_price, device_type, event_time)
            SELECT gen_random_uuid(), %s, %s, %s, p.product_id, p.product_name, p.category,
                   CASE WHEN %s = 'page_view' THEN NULL ELSE p.current_price END, 'mobile', %s
            FROM (SELECT 1) AS one LEFT JOIN products AS p ON p.product_id = %s
            """,
            [(u, s, kind, kind, at, product) for s, u, kind, product, at in late],
        )
        return per_minute * 5 + len(late)


def now_minus(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def mart_relations(conn: psycopg.Connection, schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY table_name",
        (schema,),
    ).fetchall()
    return [r[0] for r in rows]


def compare(conninfo: str, schema: str, snapshot: str) -> dict[str, int]:
    """Rows in one side and not the other, per relation (0 everywhere: equal)."""
    differences: dict[str, int] = {}
    with psycopg.connect(conninfo) as conn:
        for name in mart_relations(conn, snapshot):
            columns = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND "
                    "table_name = %s ORDER BY ordinal_position",
                    (schema, name),
                )
                if r[0] not in CLOCK_COLUMNS
            ]
            cols = sql.SQL(", ").join(map(sql.Identifier, columns))
            a, b = sql.Identifier(schema, name), sql.Identifier(snapshot, name)
            query = sql.SQL(
                "SELECT count(*) FROM ((SELECT {c} FROM {a} EXCEPT ALL SELECT {c} FROM {b}) "
                "UNION ALL (SELECT {c} FROM {b} EXCEPT ALL SELECT {c} FROM {a})) AS d"
            ).format(c=cols, a=a, b=b)
            differences[name] = conn.execute(query).fetchone()[0]  # type: ignore[index]
    return differences


def snapshot_marts(conninfo: str, schema: str, snapshot: str) -> None:
    with psycopg.connect(conninfo) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(snapshot)))
        for name in mart_relations(conn, schema):
            conn.execute(
                sql.SQL("CREATE TABLE {} AS SELECT * FROM {}").format(
                    sql.Identifier(snapshot, name), sql.Identifier(schema, name)
                )
            )


def main(
    clicks: int = typer.Option(2_000_000, min=1000, help="clickstream events to seed"),
    days: int = typer.Option(7, min=2, max=30, help="days of history"),
    rng_seed: int = typer.Option(42, "--seed", help="seed of the synthetic data"),
) -> None:
    root = server_root("pricing-bench-dbt-")
    log_dir = Path("test-artifacts/benchmark")
    log_dir.mkdir(parents=True, exist_ok=True)
    pg = PostgresProcess(LocalPostgres(root / "pg", free_port()), log_dir / "postgres-dbt.log")
    try:
        with console.status("starting PostgreSQL and migrating"):
            pg.start()
            pg.server.ensure_role_and_database("pricing", "bench_dbt")
            conninfo = pg.conninfo("bench_dbt")
            migrate.upgrade(conninfo)
        settings = Settings(database_url=conninfo)
        dbt = DbtResource.from_settings(settings)
        with console.status(f"seeding {clicks:,} clickstream events over {days} days and the rest"):
            seed(conninfo, clicks, 300_000, 200_000, days, rng_seed)
        dbt.prepare()
        with console.status("full build: dbt build --full-refresh"):
            full = run_dbt(dbt, ["build", "--full-refresh"], root / "full")
        with console.status("five busy minutes, late and out-of-order events"):
            added = five_busy_minutes(conninfo, max(1, clicks // (days * 1440)))
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(tables.CLICKSTREAM_EVENTS)))
        with console.status(f"the five-minute job: dbt {' '.join(JOB_ARGS)}"):
            job = run_dbt(dbt, list(JOB_ARGS), root / "job")
        with console.status("the same run again with nothing new (the job's floor)"):
            idle = run_dbt(dbt, list(JOB_ARGS), root / "idle")
        marts = settings.dbt_marts_schema
        snapshot_marts(conninfo, marts, "incremental_snapshot")
        with console.status("reference: dbt run --full-refresh"):
            rebuild = run_dbt(dbt, ["run", "--full-refresh"], root / "rebuild")
        differences = compare(conninfo, marts, "incremental_snapshot")
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)

    table = Table(
        title=f"dbt marts on a busy week ({clicks:,} clicks over {days} days), then {added:,} new events"
    )
    for column in ("run", "models (sum of execution_time)", "tests (sum)", "wall time (dbt process)"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for name, (wall, models, tests) in (
        ("full build: dbt build --full-refresh (baseline)", full),
        (f"five-minute job: dbt {' '.join(JOB_ARGS)}", job),
        ("  … again, nothing new landed", idle),
        ("full rebuild of the models: dbt run --full-refresh", rebuild),
    ):
        table.add_row(name, f"{sum(models.values()):.2f} s", f"{sum(tests.values()):.2f} s", f"{wall:.2f} s")
    console.print(table)
    per_model = Table("model", "full build s", "five-minute job s", title="execution_time per model")
    for model in sorted(full[1]):
        per_model.add_row(model, f"{full[1][model]:.2f}", f"{job[1].get(model, 0.0):.2f}")
    console.print(per_model)
    unequal = {name: n for name, n in differences.items() if n}
    console.print(
        "incremental = full rebuild: "
        + ("[green]yes[/green], every mart row equal" if not unequal else f"[red]NO[/red]: {unequal}")
    )


if __name__ == "__main__":
    typer.run(main)
