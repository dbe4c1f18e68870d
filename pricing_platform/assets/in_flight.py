"""Schedules whose runs can outlast their interval skip a tick while an earlier run is still going."""

import dagster as dg

IN_FLIGHT_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def runs_in_flight(context: dg.ScheduleEvaluationContext, job_name: str) -> int:
    return context.instance.get_runs_count(dg.RunsFilter(job_name=job_name, statuses=IN_FLIGHT_STATUSES))
