"""Demand estimates: the price elasticity per product and per category that the hourly `demand_estimates`
asset learns from the shop's own views and purchases (pricing_platform/pricing/demand.py), with the
interval, the evidence behind it and whether it is the product's own, borrowed from its category, or the
prior. Replaced as a whole by each run (readers never see half a run); the dashboard reads it.

No new index on the event tables: the hourly read of a window uses the event-time index, and every index
on clickstream_events costs ingest throughput.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01
"""

from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE demand_estimates (
    scope              text NOT NULL CHECK (scope IN ('product', 'category')),
    subject            text NOT NULL,
    category           text NOT NULL,
    elasticity         float8 NOT NULL,
    std_error          float8 NOT NULL CHECK (std_error >= 0),
    ci_low             float8 NOT NULL,
    ci_high            float8 NOT NULL,
    ci_level           float8 NOT NULL CHECK (ci_level > 0 AND ci_level < 1),
    source             text NOT NULL CHECK (source IN ('own', 'shrunk', 'category', 'prior')),
    views              bigint NOT NULL,
    purchases          bigint NOT NULL,
    price_points       integer NOT NULL,
    price_sd_pct       float8 NOT NULL,
    conversion         float8,
    competitor_effect  float8,
    note               text NOT NULL,
    window_start       timestamptz NOT NULL,
    window_end         timestamptz NOT NULL,
    estimated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, subject),
    CHECK (ci_low <= elasticity AND elasticity <= ci_high)
);
GRANT SELECT ON demand_estimates TO pricing_dashboard;
"""

DOWNGRADE = """
DROP TABLE demand_estimates;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
