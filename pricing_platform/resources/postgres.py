"""The platform's PostgreSQL as a Dagster resource."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg


class PostgresResource(dg.ConfigurableResource):
    """Connections to the operational database the ingest workers write to."""

    conninfo: str
    application_name: str = "pricing-dagster"

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        with psycopg.connect(
            self.conninfo, application_name=self.application_name, autocommit=True, connect_timeout=10
        ) as conn:
            yield conn
