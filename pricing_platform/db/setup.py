"""Brings a database to what the platform needs: the migrations, the catalog and (where the migrating role
may) the dashboard roles' passwords. `pricing-platform db migrate` and `up` both call it, so the two
cannot drift apart."""

from __future__ import annotations

import psycopg

from pricing_platform.core import roles
from pricing_platform.core.settings import Settings
from pricing_platform.db import migrate, seed


def prepare_database(settings: Settings) -> list[str]:
    """Idempotent. Returns the roles whose password was set."""
    migrate.upgrade(settings.database_conninfo)
    with psycopg.connect(settings.database_conninfo) as conn:
        seed.seed_catalog(conn)
        return roles.sync_passwords(
            conn,
            {
                roles.DASHBOARD_READER: settings.dashboard_conninfo,
                roles.PRICE_APPROVER: settings.approvals_conninfo,
            },
        )
