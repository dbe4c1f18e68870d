"""Throwaway real servers, the project's own PostgreSQL, the Tansu Kafka-protocol broker (in memory, or
durable on an S3 endpoint) and the local stack's S3 endpoint (s3rver), as child processes on free loopback
ports (never the ports of a running `pricing-platform up`). The test suite and
the benchmarks start theirs with these."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from pricing_platform.localstack import s3
from pricing_platform.localstack.broker import broker_argv, repair_storage
from pricing_platform.localstack.postgres import LocalPostgres, service_user


def server_root(prefix: str) -> Path:
    """A new directory for throwaway servers' data, readable by the `postgres` user that the database
    server runs as under root (pytest's and mkdtemp's own directories are private to their owner)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s}s")


@dataclass
class PostgresProcess:
    server: LocalPostgres
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.server.init()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.server.server_argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=service_user(),
                cwd=self.server.root,
            )
        self.server.wait_ready()

    def stop(self) -> None:
        """Fast shutdown (SIGINT): aborts open transactions, as a crash or failover would for clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=30)
        self.process = None

    def conninfo(self, database: str) -> str:
        return f"postgresql://pricing@{self.server.host}:{self.server.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        with psycopg.connect(self.server.admin_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            statement = sql.SQL("CREATE DATABASE {} OWNER pricing").format(sql.Identifier(name))
            if template:
                statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            conn.execute(statement)
        return self.conninfo(name)


@dataclass
class BrokerProcess:
    port: int
    log_path: Path
    process: subprocess.Popen | None = field(default=None)
    # Durable: the topics in this bucket of a running S3 endpoint (see `S3rverProcess`).
    s3_endpoint: str | None = None
    s3_bucket: str = "broker"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        storage, env = "memory://tansu/", None
        if self.s3_endpoint:
            repair_storage(s3.client(self.s3_endpoint), self.s3_bucket)  # as `topics broker` does
            storage = f"s3://{self.s3_bucket}/"
            env = {**os.environ, **s3.broker_environment(self.s3_endpoint)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                broker_argv("127.0.0.1", self.port, storage),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


@dataclass
class S3rverProcess:
    """The local stack's S3 endpoint, keeping its objects under `directory`."""

    port: int
    directory: Path
    log_path: Path
    listing_index: bool = True  # False: s3rver's own listing (a benchmark's baseline)
    process: subprocess.Popen | None = field(default=None)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *buckets: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                s3.s3rver_argv("127.0.0.1", self.port, self.directory, listing_index=self.listing_index),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **s3.S3RVER_ENVIRONMENT},
            )
        wait_port(self.port)
        for bucket in buckets:
            if not s3.create_bucket(self.endpoint, bucket):
                raise RuntimeError(f"s3rver at {self.endpoint} refused bucket {bucket}; see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
