"""Topic retention for the local broker, which has none of its own.

Tansu keeps every record batch as one object in the local S3 endpoint (`topics/<topic>/partitions/
<partition>/records/<base offset>.batch`) and never deletes one, whatever `retention.ms` says, and lists a
partition's objects on every fetch that finds new data, so left alone the broker's disk and the cost of
every fetch grow without bound (the endpoint's listing index, s3rver/listing-index.js, makes a listing
cheap, not free). `up` runs this sweeper: every `LOCAL_TOPIC_RETENTION_CHECK_S` it deletes the batches
older than `LOCAL_TOPIC_RETENTION_HOURS` — of a raw topic or a stream processor's output only those the
ingest workers have already stored in PostgreSQL (a batch is kept while any message in it is unconsumed,
however old), of the price feed and the re-keyed clickstream any old batch (the relays republish every
current price more often than that; sessions close within the hour). The stream processor's changelog
topics are not swept, and its reading is not waited for: a processor stopped for longer than the retention
misses what went. Tansu then reports the first kept batch as the partition's start, and a consumer asking
for an older offset is given the first kept one (verified against this build).

On Apache Kafka (the deployment) the brokers apply the topics' `retention.ms` themselves; this module is
the local stand-in for it.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.core.catalog import ALL_TOPICS, LANDED_TOPICS, consumer_group
from pricing_platform.core.settings import Settings
from pricing_platform.localstack import s3
from pricing_platform.localstack.broker import backup_registry, stored_batches

log = logging.getLogger(__name__)

CLUSTER: Final = "tansu_cluster"  # Tansu's default --cluster-id, the first part of every key
_POSITIONS_SQL = sql.SQL(
    "SELECT topic, partition, next_offset FROM {} WHERE consumer_group = ANY(%s)"
).format(sql.Identifier(tables.INGEST_OFFSETS))


@dataclass(frozen=True)
class Batch:
    key: str
    base_offset: int
    modified: datetime


@dataclass
class SweepResult:
    deleted: int = 0
    kept: int = 0
    bytes_deleted: int = 0


def partition_prefix(topic: str, partition: int) -> str:
    return f"clusters/{CLUSTER}/topics/{topic}/partitions/{partition:010d}/records/"


def list_batches(client: Any, bucket: str, topic: str, partition: int) -> list[tuple[Batch, int]]:
    """The partition's batches in offset order, with their sizes."""
    found = [
        (
            Batch(item["Key"], int(item["Key"].rsplit("/", 1)[1].split(".", 1)[0]), item["LastModified"]),
            item["Size"],
        )
        for item in stored_batches(
            client, bucket, partition_prefix(topic, partition).removesuffix("records/")
        )
    ]
    return sorted(found, key=lambda pair: pair[0].base_offset)


def expired(batches: list[Batch], cutoff: datetime, consumed_below: int | None) -> list[Batch]:
    """Batches that may go: older than `cutoff`, and — when `consumed_below` is given — wholly below it
    (the next batch starts at or below the stored position). The newest batch always stays: it carries
    the partition's end."""
    doomed = []
    for batch, following in itertools.pairwise(batches):
        if batch.modified >= cutoff:
            break
        if consumed_below is not None and following.base_offset > consumed_below:
            break
        doomed.append(batch)
    return doomed


def sweep(settings: Settings, client: Any, now: datetime | None = None) -> SweepResult:
    """One pass over every topic partition of the local broker."""
    cutoff = (now or datetime.now(UTC)) - timedelta(hours=settings.local_topic_retention_hours)
    groups = [consumer_group(s, settings.kafka_group_prefix) for s in LANDED_TOPICS]
    with psycopg.connect(settings.database_conninfo, connect_timeout=10) as conn:
        positions = {(t, p): o for t, p, o in conn.execute(_POSITIONS_SQL, (groups,)).fetchall()}
    landed = {topic.name for topic in LANDED_TOPICS.values()}
    result = SweepResult()
    for topic in ALL_TOPICS:
        for partition in range(topic.partitions):
            listed = list_batches(client, settings.local_broker_bucket, topic.name, partition)
            sizes = {batch.key: size for batch, size in listed}
            batches = [batch for batch, _ in listed]
            # A landed topic loses nothing the workers have not stored (no stored position: keep all); the
            # price feed's snapshots keep every price recoverable and the re-keyed clickstream matters only
            # until its sessions close, so their old batches go by age alone.
            consumed = positions.get((topic.name, partition), 0) if topic.name in landed else None
            doomed = expired(batches, cutoff, consumed)
            for batch in doomed:
                client.delete_object(Bucket=settings.local_broker_bucket, Key=batch.key)
                result.bytes_deleted += sizes[batch.key]
            result.deleted += len(doomed)
            result.kept += len(batches) - len(doomed)
    return result


def run_sweeper(settings: Settings, stop: threading.Event) -> None:
    client = s3.client(s3_url(settings))
    log.info(
        "keeping %s h of the local broker's topics, checking every %s s",
        settings.local_topic_retention_hours,
        settings.local_topic_retention_check_s,
    )
    while not stop.is_set():
        try:
            # Topics created since the broker started (the processor's changelogs) enter the backup that
            # repairs a cut-off metadata object with their ids.
            backup_registry(client, settings.local_broker_bucket)
            result = sweep(settings, client)
            log.info("retention: %s batches deleted (%.1f MiB), %s kept", result.deleted,
                     result.bytes_deleted / 2**20, result.kept)  # fmt: skip
        except (psycopg.OperationalError, OSError) as exc:
            log.warning("retention pass skipped: %s", exc)
        stop.wait(settings.local_topic_retention_check_s)


def s3_url(settings: Settings) -> str:
    return f"http://{settings.local_bind_host}:{settings.local_s3_port}"
