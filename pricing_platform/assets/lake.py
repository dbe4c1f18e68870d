"""The Parquet lake as daily-partitioned assets: `lake/<stream>` holds one UTC day of each stream per
partition, exported from its PostgreSQL table and replaced whole on every materialisation (so a backfill
from the UI, or the hourly re-export of the recent days, picks up rows that arrived late)."""

from collections.abc import Iterator
from datetime import date, datetime

import dagster as dg

from pricing_platform.lake.export import export_day
from pricing_platform.lake.streams import STREAMS, LakeStream
from pricing_platform.observability.metrics import push_lake_export
from pricing_platform.resources.lake import LakeResource
from pricing_platform.resources.metrics import PushgatewayResource
from pricing_platform.resources.postgres import PostgresResource

LAKE_GROUP = "lake"
LAKE_START_DATE = "2026-01-01"

# end_offset=1: today is a partition too (growing until midnight UTC; re-exported by the schedule).
lake_partitions = dg.DailyPartitionsDefinition(start_date=LAKE_START_DATE, timezone="UTC", end_offset=1)


def _lake_asset(stream: LakeStream) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey([LAKE_GROUP, stream.name]),
        group_name=LAKE_GROUP,
        deps=[stream.table],
        partitions_def=lake_partitions,
        kinds={"parquet", "postgres"},
        owners=["team:pricing"],
        description=f"`{stream.table}` rows with `{stream.time_column}` on the partition's UTC day, as "
        f"Parquet under `<lake root>/{stream.name}/date=YYYY-MM-DD/` (replaced whole, atomically). "
        "Query with `pricing-platform lake query`.",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        postgres: PostgresResource,
        lake: LakeResource,
        pushgateway: PushgatewayResource,
    ) -> dg.MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        with postgres.connect() as conn:
            written = export_day(conn, stream, day, lake.storage(), lake.batch_rows)
        context.log.info(
            "%s %s: %s rows, %s bytes in %s file(s), %.3fs → %s",
            stream.name, day, written.rows, written.bytes, len(written.files), written.seconds, written.path,
        )  # fmt: skip
        push_lake_export(
            pushgateway,
            stream=stream.name,
            partition=context.partition_key,
            rows=written.rows,
            bytes_=written.bytes,
            files=len(written.files),
            seconds=written.seconds,
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": written.rows,
                "row_count": written.rows,
                "bytes": written.bytes,
                "files": len(written.files),
                "path": dg.MetadataValue.path(written.path),
                "duration_s": round(written.seconds, 3),
            }
        )

    return _asset


lake_assets = [_lake_asset(stream) for stream in STREAMS.values()]

lake_export_job = dg.define_asset_job(
    "lake_export_job",
    selection=dg.AssetSelection.groups(LAKE_GROUP),
    description="Exports one UTC day of every stream to the Parquet lake (partitioned by day).",
)


def recent_partition_keys(now: datetime, days: int) -> list[str]:
    """The newest `days` partition keys at `now` (today's included)."""
    return lake_partitions.get_partition_keys(current_time=now)[-days:]


@dg.schedule(
    name="lake_recent_days_hourly",
    job=lake_export_job,
    cron_schedule="10 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-exports the last LAKE_RECENT_DAYS day(s) of every stream, picking up late rows.",
)
def lake_schedule(context: dg.ScheduleEvaluationContext, lake: LakeResource) -> Iterator[dg.RunRequest]:
    """Every hour, one run per partition of the last LAKE_RECENT_DAYS days (today included)."""
    tick = context.scheduled_execution_time
    for key in recent_partition_keys(tick, lake.recent_days):
        yield dg.RunRequest(run_key=f"{key}@{tick.isoformat()}", partition_key=key)
