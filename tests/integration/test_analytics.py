"""Analytics assets against a real PostgreSQL: seeded rows in, the analytics tables' contents out."""

from __future__ import annotations

import psycopg

from pricing_platform.db import tables


def test_every_analytics_table_exists_after_migrating(database: str) -> None:
    analytics = [name for name in tables.ALL if name.startswith("analytics_")]
    with psycopg.connect(database) as conn:
        found = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_name = ANY(%s)", (analytics,)
            )
        }
    assert found == set(analytics)
    assert len(analytics) == 12
