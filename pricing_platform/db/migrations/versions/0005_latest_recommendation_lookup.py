"""The latest recommendation per product by index lookups, and per-minute counts by minute.

`pricing_recommendations_latest` used DISTINCT ON over the whole history: it sorted every row ever
written (43,200 a day), so the dashboard's Overview and Pricing queries grew slower every day (≈0.3 s and
≈0.6 s at a week of history, benchmarks/dashboard_queries.py). The same view, written as one LATERAL
lookup per product on (product_id, created_at DESC), reads 30 index entries whatever the history.

`ingest_throughput` is read by minute range; its key leads with the stream, so a range scan needs an
index of its own.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Same columns, same order, same rows for every product that has recommendations.
        CREATE OR REPLACE VIEW pricing_recommendations_latest AS
        SELECT r.*
        FROM products p
        CROSS JOIN LATERAL (
            SELECT *
            FROM pricing_recommendations pr
            WHERE pr.product_id = p.product_id
            ORDER BY pr.created_at DESC, pr.recommendation_id DESC
            LIMIT 1
        ) r;
        CREATE INDEX ingest_throughput_minute_idx ON ingest_throughput (minute);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX ingest_throughput_minute_idx;
        CREATE OR REPLACE VIEW pricing_recommendations_latest AS
        SELECT DISTINCT ON (product_id) *
        FROM pricing_recommendations
        ORDER BY product_id, created_at DESC, recommendation_id DESC;
        """
    )
