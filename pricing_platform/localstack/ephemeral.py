"""Throwaway real servers, the project's own PostgreSQL and the Tansu Kafka-protocol broker, as child
processes on free loopback ports (never the ports of a running `pricing-platform up`). The test suite and
the benchmarks start theirs with these."""

from __future__ import annotations

import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from pricing_platform.localstack.broker import broker_argv
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

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                broker_argv("127.0.0.1", self.port),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
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
