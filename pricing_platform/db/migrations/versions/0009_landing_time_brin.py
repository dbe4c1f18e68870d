"""Landing-time (ingested_at) BRIN indexes on the two event tables the incremental dbt models read.

The incremental marts pick up what landed since their last run (`ingested_at > watermark − lookback`).
Rows are appended in landing order, so a BRIN index (one summary per 128 pages) finds the recent ones
without scanning the table, and costs next to nothing to maintain on insert (unlike a B-tree, which the
ingest benchmark would feel on `clickstream_events`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE INDEX clickstream_events_ingested_brin ON clickstream_events USING brin (ingested_at);
        CREATE INDEX inventory_events_ingested_brin ON inventory_events USING brin (ingested_at);
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX clickstream_events_ingested_brin, inventory_events_ingested_brin")
