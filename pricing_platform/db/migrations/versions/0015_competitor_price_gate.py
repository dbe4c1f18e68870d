"""The competitor price gate's memory: what each product × competitor was observed at before its newest
observation.

`competitor_prices_latest` gains `previous_price` (the observation just before the newest) and
`recent_prices` (up to the five observations before the newest, newest first) with their median
`recent_median`, kept by the ingest transaction that moves the latest row forward. The pricing engine's
input query (core/price_gate.py) holds back an observation that jumped from that median, or lies far from the
other competitors' prices, until a second observation confirms it; the thresholds are settings
(PRICING_GATE_*), so the gate itself lives in the query, where prices are read for decisions.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE competitor_prices_latest
            ADD COLUMN previous_price numeric(10, 2),
            ADD COLUMN recent_prices numeric(10, 2)[] NOT NULL DEFAULT '{}',
            ADD COLUMN recent_median numeric(10, 2)
        """
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE competitor_prices_latest DROP COLUMN previous_price, DROP COLUMN recent_prices, "
        "DROP COLUMN recent_median"
    )
