"""Keeps Dagster's own storage bounded: a pricing run every minute is 1,440 runs a day."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from pricing_platform.settings import get_settings


@dg.op(description="Deletes runs (and their event logs) older than DAGSTER_RUN_RETENTION_DAYS.")
def purge_old_runs(context: dg.OpExecutionContext) -> int:
    cutoff = datetime.now(UTC) - timedelta(days=get_settings().dagster_run_retention_days)
    deleted = 0
    while True:
        records = context.instance.get_run_records(
            filters=dg.RunsFilter(created_before=cutoff), limit=500, ascending=True
        )
        finished = [r for r in records if r.dagster_run.is_finished]
        if not finished:
            break
        for record in finished:
            context.instance.delete_run(record.dagster_run.run_id)
        deleted += len(finished)
    context.log.info("deleted %s runs created before %s", deleted, cutoff.isoformat())
    return deleted


@dg.job(name="purge_old_runs_job", executor_def=dg.in_process_executor)
def purge_old_runs_job() -> None:
    purge_old_runs()


purge_old_runs_schedule = dg.ScheduleDefinition(
    name="purge_old_runs_daily",
    job=purge_old_runs_job,
    cron_schedule="17 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    execution_timezone="UTC",
)
