"""The test session's servers: see `pricing_platform.localstack.ephemeral`; `migrated_postgres` starts one
PostgreSQL with a migrated, seeded database (the test session's template, the asset-check stage's shop)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from pricing_platform.db import migrate, seed
from pricing_platform.localstack.ephemeral import (
    BrokerProcess,
    PostgresProcess,
    S3rverProcess,
    free_port,
    server_root,
    wait_port,
)
from pricing_platform.localstack.postgres import LocalPostgres


@contextmanager
def migrated_postgres(prefix: str, log_path: Path, database: str) -> Iterator[PostgresProcess]:
    """A PostgreSQL of its own on a free port, with `database` migrated and the catalog loaded; stopped and
    removed on exit. Not under pytest's tmp dir: that is private to root, and the server runs as
    `postgres` under root."""
    root = server_root(prefix)
    process = PostgresProcess(LocalPostgres(root, free_port()), log_path)
    try:
        process.start()
        process.server.ensure_role_and_database("pricing", database)
        conninfo = process.conninfo(database)
        migrate.upgrade(conninfo)
        with psycopg.connect(conninfo) as conn:
            seed.seed_catalog(conn)
        yield process
    finally:
        process.stop()
        shutil.rmtree(root, ignore_errors=True)


__all__ = [
    "BrokerProcess",
    "PostgresProcess",
    "S3rverProcess",
    "free_port",
    "migrated_postgres",
    "server_root",
    "wait_port",
]
