"""`pricing-platform db migrate` on a real, empty database: schema at head and catalog loaded, twice."""

import os
import subprocess
import sys

import psycopg
import pytest

from pricing_platform.db import migrate
from tests.support.servers import PostgresProcess

pytestmark = pytest.mark.integration


def test_db_migrate_brings_an_empty_database_to_head_and_is_idempotent(postgres: PostgresProcess) -> None:
    conninfo = postgres.create_database("cli_migrate_empty")
    env = {**os.environ, "DATABASE_URL": conninfo}
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "pricing_platform", "db", "migrate"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"database at revision {migrate.head_revision()}" in done.stdout
        # The owner may not manage roles: no password is set, and none is claimed.
        assert "passwords set" not in done.stdout
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM products").fetchone() == (30,)
