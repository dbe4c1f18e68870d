"""How much of each minute the pricing schedule spends launching rather than pricing.

Reads the Dagster instance of a running local stack (`make up`, then let it run a few minutes) and, for
the last N runs of `pricing_engine_job`, splits scheduled tick → run end into phases from the run's own
event log:

- daemon: the scheduled tick → the run is created (the scheduler daemon evaluates the schedule);
- launch: created → RUN_START (the code server starts a run process, which imports the code location and
  opens the instance);
- set-up: RUN_START → STEP_START (the plan, resources, compute-log capture);
- step: STEP_START → STEP_SUCCESS, the pricing itself: the baseline;
- finish: STEP_SUCCESS → run end (the materialisation, the run's last events).

The target (issue "A local stack that lasts"): tick → end median < 6 s, p95 < 12 s on a running stack.

    python benchmarks/schedule_overhead.py [--runs 30]      (DAGSTER_HOME defaults to the stack's)
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
PHASES = ("daemon: tick → run created", "launch: created → run start", "set-up: run start → step start",
          "step (baseline)", "finish: step end → run end")  # fmt: skip
TARGET_MEDIAN_S, TARGET_P95_S = 6.0, 12.0


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(runs: int = typer.Option(30, help="most recent scheduled runs to analyse")) -> None:
    settings = get_settings()
    os.environ.setdefault("DAGSTER_HOME", str(dagster_home(settings)))
    os.environ.setdefault("DAGSTER_DATABASE_URL", str(settings.dagster_database_url))
    instance = dg.DagsterInstance.get()
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name="pricing_engine_job", statuses=[dg.DagsterRunStatus.SUCCESS]),
        limit=runs,
    )
    rows: list[tuple[float, ...]] = []
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
        created = record.create_timestamp.timestamp()
        step_start, step_end = times[dg.DagsterEventType.STEP_START], times[dg.DagsterEventType.STEP_SUCCESS]
        rows.append((created - tick_ts, record.start_time - created, step_start - record.start_time,
                     step_end - step_start, record.end_time - step_end))  # fmt: skip
    if not rows:
        raise typer.Exit(
            "no scheduled pricing runs found: start the stack (`make up`) and wait a few minutes"
        )
    console = Console()
    table = Table("part of a cycle", "median", "p95", "max", title=f"pricing schedule, last {len(rows)} runs")
    for index, name in enumerate(PHASES):
        values = [r[index] for r in rows]
        table.add_row(
            name, f"{statistics.median(values):.2f} s", f"{p95(values):.2f} s", f"{max(values):.2f} s"
        )
    totals = [sum(r) for r in rows]
    median, tail = statistics.median(totals), p95(totals)
    table.add_row("tick → run end", f"{median:.2f} s", f"{tail:.2f} s", f"{max(totals):.2f} s")
    table.add_row("share of the minute", f"{median / 60:.1%}", f"{tail / 60:.1%}", f"{max(totals) / 60:.1%}")
    console.print(table)
    met = median < TARGET_MEDIAN_S and tail < TARGET_P95_S
    verdict = "met" if met else "not met"
    console.print(f"target median < {TARGET_MEDIAN_S:.0f} s, p95 < {TARGET_P95_S:.0f} s: {verdict}; "
                  f"1-minute load average now {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    typer.run(main)
