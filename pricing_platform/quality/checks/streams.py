"""Checks every table fed by a stream shares: its stream is fresh, its dead letters stay under the limit,
and none of its rows is stamped further in the future than ingest allows."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from pricing_platform.core import tables
from pricing_platform.core.catalog import TOPICS, Stream, consumer_group
from pricing_platform.quality.framework import QualityCheck, Severity, query

DEAD_LETTER_WINDOW: Final = timedelta(hours=1)


def no_future_timestamps(name: str, table: str, description: str) -> QualityCheck:
    return QualityCheck(
        name=name,
        asset=table,
        severity=Severity.ERROR,
        description=description,
        query=query(
            "SELECT event_id, event_time, ingested_at, date_trunc('second', event_time - now()) AS ahead_by "
            "FROM {t} WHERE event_time > now() + %(max_skew)s ORDER BY event_time DESC",
            t=table,
        ),
        params=lambda th: {"max_skew": timedelta(seconds=th.max_future_skew_s)},
        threshold=lambda th: f"0 rows with event_time more than {th.max_future_skew_s} s ahead of now()",
    )


def stream_checks(stream: Stream, asset: str, prefix: str) -> list[QualityCheck]:
    topic = TOPICS[stream].name
    return [
        QualityCheck(
            name=f"{prefix}_stream_fresh",
            asset=asset,
            severity=Severity.ERROR,
            description=f"The {stream.value} ingest workers committed new data from {topic} recently "
            "(newest ingest_offsets.updated_at of the stream's consumer group). Stale: producers or "
            "workers stopped, or the workers run under another KAFKA_GROUP_PREFIX.",
            # Every table of a stream changes in the transaction that advances its stored offsets, so the
            # newest `ingest_offsets.updated_at` of the stream's group and topic is when its tables last
            # received data.
            query=query(
                "SELECT %(consumer_group)s AS consumer_group, %(topic)s AS topic, "
                "max(updated_at) AS last_commit, date_trunc('second', now() - max(updated_at)) AS age, "
                "CASE WHEN max(updated_at) IS NULL THEN 'never committed' ELSE 'stale' END AS problem "
                "FROM {offsets} WHERE consumer_group = %(consumer_group)s AND topic = %(topic)s "
                "HAVING max(updated_at) IS NULL OR max(updated_at) < now() - %(max_age)s",
                offsets=tables.INGEST_OFFSETS,
            ),
            params=lambda th: {
                "consumer_group": consumer_group(stream, th.group_prefix),
                "topic": topic,
                "max_age": timedelta(seconds=th.freshness_max_age_s),
            },
            threshold=lambda th: f"newest ingest commit of {topic} younger than {th.freshness_max_age_s} s",
        ),
        QualityCheck(
            name=f"{prefix}_dead_letters_within_limit",
            asset=asset,
            severity=Severity.WARN,
            description=f"Messages from {topic} quarantined in dead_letters during the last hour stay "
            "under the limit. Above it a producer is sending malformed or contract-breaking events.",
            query=query(
                "SELECT dead_letter_id, consumer_group, partition, kafka_offset, error_kind, reason, "
                "received_at, encode(substring(payload FROM 1 FOR 60), 'escape') AS payload_start "
                "FROM {dead} WHERE topic = %(topic)s AND received_at > now() - %(window)s "
                "ORDER BY received_at DESC, dead_letter_id DESC",
                dead=tables.DEAD_LETTERS,
            ),
            params=lambda th: {"topic": topic, "window": DEAD_LETTER_WINDOW},
            threshold=lambda th: (
                f"at most {th.dead_letter_max_per_hour} dead letters from {topic} in the last hour"
            ),
            allowed=lambda th: th.dead_letter_max_per_hour,
        ),
    ]
