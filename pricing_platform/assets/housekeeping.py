"""Keeps storage bounded: Dagster's (a pricing run every minute is 1,440 runs a day) and the operational
tables that grow without being facts (per-minute ingest and funnel counts, cleared alerts and the log of alert
messages, the price feed's published outbox rows and relays gone for good)."""

from datetime import UTC, datetime, timedelta

import dagster as dg
from psycopg import sql

from pricing_platform.assets.scheduling import schedule
from pricing_platform.core import tables
from pricing_platform.resources.housekeeping import HousekeepingResource
from pricing_platform.resources.postgres import PostgresResource

# (table, timestamp column, extra condition): rows older than the retention by that column go.
# Open alerts are never purged, whatever their age; dead letters are kept for replay. A published outbox row
# is transport state: the change itself stays in price_changes (the audit trail); unpublished rows stay.
_PURGED = (
    (tables.INGEST_THROUGHPUT, "minute", sql.SQL("TRUE")),
    (tables.ALERTS, "cleared_at", sql.SQL("cleared_at IS NOT NULL")),
    # The log behind the daily cap and the digest interval: only its last day matters.
    (tables.ALERT_NOTIFICATIONS, "sent_at", sql.SQL("TRUE")),
    (tables.PRICE_CHANGE_OUTBOX, "published_at", sql.SQL("published_at IS NOT NULL")),
    (tables.PRICE_FEED_RELAYS, "seen_at", sql.SQL("TRUE")),
    # The stream processor's per-minute counts feed the live Overview; sessions are the facts that stay.
    (tables.FUNNEL_MINUTES, "minute", sql.SQL("TRUE")),
)


@dg.op(description="Deletes runs (and their event logs) older than DAGSTER_RUN_RETENTION_DAYS.")
def purge_old_runs(context: dg.OpExecutionContext, housekeeping: HousekeepingResource) -> int:
    cutoff = datetime.now(UTC) - timedelta(days=housekeeping.run_retention_days)
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


@dg.op(
    description="Deletes per-minute ingest and funnel counts, cleared alerts, logged alert messages, "
    "published outbox rows and relays not seen for OPERATIONAL_RETENTION_DAYS."
)
def purge_operational_rows(
    context: dg.OpExecutionContext, postgres: PostgresResource, housekeeping: HousekeepingResource
) -> dict[str, int]:
    days = housekeeping.operational_retention_days
    deleted: dict[str, int] = {}
    with postgres.connect() as conn:
        for table, column, condition in _PURGED:
            statement = sql.SQL("DELETE FROM {} WHERE {} AND {} < now() - make_interval(days => %s)").format(
                sql.Identifier(table), condition, sql.Identifier(column)
            )
            deleted[table] = conn.execute(statement, (days,)).rowcount
    context.log.info("deleted rows older than %s days: %s", days, deleted)
    return deleted


@dg.job(name="housekeeping_job", executor_def=dg.in_process_executor)
def housekeeping_job() -> None:
    purge_old_runs()
    purge_operational_rows()


housekeeping_schedule = schedule("housekeeping_daily", housekeeping_job, "17 3 * * *")
