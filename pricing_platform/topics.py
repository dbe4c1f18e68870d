"""Creates the platform's Kafka topics; the platform never relies on broker-side auto-creation."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from pricing_platform.core.catalog import ALL_TOPICS, Topic
from pricing_platform.core.settings import Settings

log = logging.getLogger(__name__)


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(settings.kafka_common_config())


def ensure_topics(
    settings: Settings, topics: Iterable[Topic] = ALL_TOPICS, timeout_s: float = 30
) -> dict[str, str]:
    """Create missing topics; check existing ones have the partition count the platform expects.

    Returns topic name → "created" | "exists". A topic with fewer partitions than required is an error:
    per-product ordering and worker parallelism depend on the count.
    """
    topics = list(topics)
    admin = admin_client(settings)
    futures = admin.create_topics(
        [
            NewTopic(
                t.name,
                num_partitions=t.partitions,
                replication_factor=settings.topic_replication_factor,
                config={"retention.ms": str(t.retention_ms)},
            )
            for t in topics
        ],
        request_timeout=timeout_s,
    )
    outcome: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
            outcome[name] = "created"
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(
                    f"could not create topic {name} on {settings.kafka_bootstrap_servers}: {error.str()}"
                ) from exc
            outcome[name] = "exists"
    metadata = admin.list_topics(timeout=timeout_s)
    for t in topics:
        found = metadata.topics.get(t.name)
        have = len(found.partitions) if found else 0
        if have < t.partitions:
            raise RuntimeError(
                f"topic {t.name} has {have} partitions, the platform needs {t.partitions}: "
                "add partitions (Kafka cannot shrink them) or recreate the topic"
            )
    log.info("topics ready: %s", outcome)
    return outcome
