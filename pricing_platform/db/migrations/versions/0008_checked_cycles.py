"""The checked-cycle watermark: one row per pricing cycle whose recommendation checks were evaluated, with
the verdict, and the view the dbt marts read the recommendations through, which holds only cycles whose
ERROR checks passed.

`pricing_recommendations_latest` stays the newest recommendation per product whatever its checks say (the
dashboard's Pricing page, approvals); `pricing_recommendations_checked` is the newest one per product
from a cycle that passed, one index lookup per product like migration 0005's view. Cycles written before
this migration have no verdict, so the marts show recommendations again once the first new cycle has
been checked (within a minute with the Dagster daemon running).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE pricing_cycle_checks (
            cycle_id          uuid PRIMARY KEY,
            cycle_created_at  timestamptz NOT NULL,
            checked_at        timestamptz NOT NULL DEFAULT now(),
            passed            boolean NOT NULL,
            failed_checks     text[] NOT NULL DEFAULT '{}'
        );
        CREATE INDEX pricing_cycle_checks_created_idx ON pricing_cycle_checks (cycle_created_at DESC);
        COMMENT ON COLUMN pricing_cycle_checks.passed IS 'every ERROR (blocking) check of the cycle passed';

        CREATE VIEW pricing_recommendations_checked AS
        SELECT r.*
        FROM products p
        CROSS JOIN LATERAL (
            SELECT pr.*
            FROM pricing_recommendations pr
            JOIN pricing_cycle_checks c ON c.cycle_id = pr.cycle_id AND c.passed
            WHERE pr.product_id = p.product_id
            ORDER BY pr.created_at DESC, pr.recommendation_id DESC
            LIMIT 1
        ) r;
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW pricing_recommendations_checked; DROP TABLE pricing_cycle_checks;")
