"""Checks every table fed by a stream shares: its stream is fresh, its dead letters stay under the limit,
and none of its rows is stamped further in the future than ingest allows."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.core.catalog import TOPICS, Stream, consumer_group
from pricing_platform.quality.framework import Dataset, QualityCheck, Severity, gxc, gxe

DEAD_LETTER_WINDOW: Final = timedelta(hours=1)

# Every table of a stream changes in the transaction that advances its stored offsets, so the newest
# `ingest_offsets.updated_at` of the stream's group and topic is when its tables last received data.
INGEST_OFFSETS: Final = Dataset(name=tables.INGEST_OFFSETS, table=tables.INGEST_OFFSETS)
DEAD_LETTERS_LAST_HOUR: Final = Dataset(
    name="dead_letters_last_hour",
    query=lambda _: (
        sql.SQL("SELECT * FROM {dead} WHERE received_at > now() - {window}::interval")
        .format(
            dead=sql.Identifier(tables.DEAD_LETTERS),
            window=sql.Literal(f"{DEAD_LETTER_WINDOW.total_seconds():g} seconds"),
        )
        .as_string(None)
    ),
)


def no_future_timestamps(name: str, dataset: Dataset, description: str) -> QualityCheck:
    return QualityCheck(
        name=name,
        asset=dataset.name,
        dataset=dataset,
        severity=Severity.ERROR,
        description=description,
        expectation=lambda th, scope: gxe.ExpectColumnValuesToBeBetween(
            column="event_time", max_value=scope.now + timedelta(seconds=th.max_future_skew_s)
        ),
        threshold=lambda th: f"0 rows with event_time more than {th.max_future_skew_s} s ahead of now()",
    )


def stream_checks(stream: Stream, asset: str, prefix: str) -> list[QualityCheck]:
    topic = TOPICS[stream].name
    return [
        QualityCheck(
            name=f"{prefix}_stream_fresh",
            asset=asset,
            dataset=INGEST_OFFSETS,
            severity=Severity.ERROR,
            description=f"The {stream.value} ingest workers committed new data from {topic} recently "
            "(newest ingest_offsets.updated_at of the stream's consumer group; none at all: never "
            "committed). Stale: producers or workers stopped, or the workers run under another "
            "KAFKA_GROUP_PREFIX.",
            expectation=lambda th, scope: gxe.ExpectColumnMaxToBeBetween(
                column="updated_at",
                min_value=scope.now - timedelta(seconds=th.freshness_max_age_s),
                row_condition=(gxc.Column("consumer_group") == consumer_group(stream, th.group_prefix))
                & (gxc.Column("topic") == topic),
            ),
            threshold=lambda th: f"newest ingest commit of {topic} younger than {th.freshness_max_age_s} s",
        ),
        QualityCheck(
            name=f"{prefix}_dead_letters_within_limit",
            asset=asset,
            dataset=DEAD_LETTERS_LAST_HOUR,
            severity=Severity.WARN,
            description=f"Messages from {topic} quarantined in dead_letters during the last hour stay "
            "under the limit. Above it a producer is sending malformed or contract-breaking events.",
            expectation=lambda th, _: gxe.ExpectTableRowCountToBeBetween(
                max_value=th.dead_letter_max_per_hour, row_condition=gxc.Column("topic") == topic
            ),
            threshold=lambda th: (
                f"at most {th.dead_letter_max_per_hour} dead letters from {topic} in the last hour"
            ),
        ),
    ]
