"""The one way the platform's jobs and schedules are declared. Each domain module under `assets/` defines
its assets (or checks, or ops) together with the job that runs them and the schedule that starts it,
using these two helpers: a job is one step per run on the in-process executor (no per-step subprocess, so
launch overhead stays small against the minute), and a schedule runs in UTC, on by default, optionally
skipping a tick while an earlier run is still going, optionally with a run configuration chosen per
tick."""

from collections.abc import Callable

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

IN_FLIGHT_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def runs_in_flight(context: dg.ScheduleEvaluationContext, job_name: str) -> int:
    return context.instance.get_runs_count(dg.RunsFilter(job_name=job_name, statuses=IN_FLIGHT_STATUSES))


def asset_job(
    name: str, selection: dg.AssetSelection | list[str], description: str
) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name, selection=selection, executor_def=dg.in_process_executor, description=description
    )


def schedule(
    name: str,
    job: dg.JobDefinition | UnresolvedAssetJobDefinition,
    cron: str,
    *,
    description: str | None = None,
    skip_while_running: bool = False,
    run_config: Callable[[dg.ScheduleEvaluationContext], dict] | None = None,
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=cron,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        execution_timezone="UTC",
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if skip_while_running:
            running = runs_in_flight(context, job.name)
            if running:
                return dg.SkipReason(f"{running} {job.name} run(s) still in flight")
        return dg.RunRequest(run_config=run_config(context) if run_config else {})

    return _schedule
