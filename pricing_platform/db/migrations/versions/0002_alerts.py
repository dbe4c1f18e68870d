"""Alerts raised by the Dagster sensors: one open row per condition until it clears.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE alerts (
            alert_id       bigserial PRIMARY KEY,
            condition_key  text NOT NULL,
            kind           text NOT NULL,
            severity       text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
            title          text NOT NULL,
            context        jsonb NOT NULL DEFAULT '{}',
            opened_at      timestamptz NOT NULL DEFAULT now(),
            last_seen_at   timestamptz NOT NULL DEFAULT now(),
            cleared_at     timestamptz,
            notified_at    timestamptz
        );
        -- Deduplication: at most one open alert per condition.
        CREATE UNIQUE INDEX alerts_open_condition_idx ON alerts (condition_key) WHERE cleared_at IS NULL;
        CREATE INDEX alerts_kind_idx ON alerts (kind, opened_at DESC);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE alerts")
