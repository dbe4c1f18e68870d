"""How much of each minute the pricing schedule spends launching rather than pricing.

Reads the Dagster instance of a running local stack (`make up`, then let it run a few minutes) and, for
the last N runs of `pricing_engine_job`, splits tick → run end into: launch (scheduled tick to run start:
daemon, run subprocess, imports), the step's own compute (STEP_START → STEP_SUCCESS) and the rest of the
run (resource set-up, event writes). The baseline is the step itself.

    python benchmarks/schedule_overhead.py [--runs 10]      (DAGSTER_HOME defaults to the stack's)
"""

import os
import statistics
from datetime import UTC, datetime

import dagster as dg
import typer
from rich.console import Console
from rich.table import Table

from pricing_platform.core.settings import get_settings
from pricing_platform.localstack.stack import dagster_home

SCHEDULED_TAG = ".dagster/scheduled_execution_time"


def main(runs: int = typer.Option(10, help="most recent scheduled runs to analyse")) -> None:
    settings = get_settings()
    os.environ.setdefault("DAGSTER_HOME", str(dagster_home(settings)))
    os.environ.setdefault("DAGSTER_DATABASE_URL", str(settings.dagster_database_url))
    instance = dg.DagsterInstance.get()
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name="pricing_engine_job", statuses=[dg.DagsterRunStatus.SUCCESS]),
        limit=runs,
    )
    rows = []
    for record in records:
        tick = record.dagster_run.tags.get(SCHEDULED_TAG)
        if not tick or record.start_time is None or record.end_time is None:
            continue
        tick_ts = datetime.fromisoformat(tick).astimezone(UTC).timestamp()
        steps = instance.get_records_for_run(
            record.dagster_run.run_id,
            of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS},
        ).records
        times = {r.event_log_entry.dagster_event.event_type: r.event_log_entry.timestamp for r in steps}
        step_s = times[dg.DagsterEventType.STEP_SUCCESS] - times[dg.DagsterEventType.STEP_START]
        rows.append((record.start_time - tick_ts, step_s, record.end_time - record.start_time - step_s))
    if not rows:
        raise typer.Exit(
            "no scheduled pricing runs found: start the stack (`make up`) and wait a few minutes"
        )
    console = Console()
    table = Table("part of a cycle", "median", "max", title=f"pricing schedule, last {len(rows)} runs")
    for name, index in (
        ("launch: tick → run start", 0),
        ("step compute (baseline)", 1),
        ("run bookkeeping", 2),
    ):
        values = [r[index] for r in rows]
        table.add_row(name, f"{statistics.median(values):.2f} s", f"{max(values):.2f} s")
    totals = [sum(r) for r in rows]
    table.add_row("tick → run end", f"{statistics.median(totals):.2f} s", f"{max(totals):.2f} s")
    table.add_row("share of the minute", f"{statistics.median(totals) / 60:.1%}", f"{max(totals) / 60:.1%}")
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
