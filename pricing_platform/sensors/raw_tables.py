"""Reports new data in the worker-fed tables to Dagster, so their freshness policies are evaluated.

All tables of a stream change in the same transaction as its stored offsets, so the newest
`ingest_offsets.updated_at` of a stream's topic is exactly when its tables last changed: one indexed
read of a tiny table instead of scanning event tables."""

import json

import dagster as dg
from psycopg import sql

from pricing_platform.assets.raw_tables import RAW_TABLES
from pricing_platform.core import tables
from pricing_platform.core.catalog import TOPICS
from pricing_platform.resources.ingest import IngestResource
from pricing_platform.resources.postgres import PostgresResource

LAST_COMMIT_SQL = sql.SQL(
    "SELECT topic, max(updated_at), sum(next_offset) FROM {} WHERE consumer_group = ANY(%s) GROUP BY topic"
).format(sql.Identifier(tables.INGEST_OFFSETS))


@dg.sensor(
    name="observe_raw_tables",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records a materialization of each worker-fed table when its stream commits new data.",
)
def observe_raw_tables(
    context: dg.SensorEvaluationContext, postgres: PostgresResource, ingest: IngestResource
) -> dg.SensorResult:
    with postgres.connect() as conn:
        rows = conn.execute(LAST_COMMIT_SQL, (ingest.consumer_groups(),)).fetchall()
    last_commit = {topic: (committed_at, consumed) for topic, committed_at, consumed in rows}
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    events = []
    for raw in RAW_TABLES:
        topic = TOPICS[raw.stream].name
        if topic not in last_commit:
            continue
        committed_at, consumed = last_commit[topic]
        if seen.get(raw.table) == committed_at.isoformat():
            continue
        seen[raw.table] = committed_at.isoformat()
        events.append(
            dg.AssetMaterialization(
                asset_key=raw.table,
                description=f"{raw.stream.value} workers committed new data",
                metadata={
                    "last_ingest_commit": dg.MetadataValue.timestamp(committed_at),
                    "messages_consumed": int(consumed),
                    "topic": topic,
                },
            )
        )
    return dg.SensorResult(asset_events=events, cursor=json.dumps(seen))
