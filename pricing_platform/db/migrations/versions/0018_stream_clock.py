"""The stream processors' clock, shared: each replica reports the time it would tell the re-keyed
clickstream's partitions, and every replica tells the slowest live one's (streaming/clock.py), so one replica
ahead of another never makes the other's events late.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE stream_clock_progress (
            consumer_group  text NOT NULL,
            processor_id    text NOT NULL,
            -- NULL: the replica has read no click yet (it may be joining with a backlog waiting).
            told_at         timestamptz,
            reported_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer_group, processor_id)
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE stream_clock_progress")
