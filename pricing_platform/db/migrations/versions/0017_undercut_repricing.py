"""Event-driven repricing: undercuts landed from the stream processor, and what triggered a recommendation.

`competitor_undercuts` holds every undercut transition (`opened`, `deepened`, `cleared`) the stream
processor published, keyed by the observation's event id, with what the repricer did about it: the
recommendation it wrote, or why it wrote none. `pricing_recommendations.triggered_by` says whether a row
comes from the scheduled cycle or from an undercut, and `trigger_event_id` names the observation that
caused it. The views that read recommendations are written again so that `r.*` takes in the new columns.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# As in 0010: a view's `*` is expanded when it is created.
VIEWS = """
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

CREATE OR REPLACE VIEW pricing_recommendations_checked AS
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


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE pricing_recommendations
            ADD COLUMN triggered_by text NOT NULL DEFAULT 'schedule'
                CONSTRAINT known_trigger CHECK (triggered_by IN ('schedule', 'undercut')),
            ADD COLUMN trigger_event_id uuid,
            ADD CONSTRAINT trigger_cites_its_event
                CHECK ((triggered_by = 'schedule') = (trigger_event_id IS NULL));
        -- One recommendation per undercut and product, whatever a redelivery does.
        CREATE UNIQUE INDEX pricing_recommendations_trigger_event
            ON pricing_recommendations (trigger_event_id) WHERE trigger_event_id IS NOT NULL;
        {VIEWS}

        CREATE TABLE competitor_undercuts (
            event_id           uuid PRIMARY KEY,
            product_id         text NOT NULL,
            competitor_name    text NOT NULL,
            state              text NOT NULL CHECK (state IN ('opened', 'deepened', 'cleared')),
            competitor_price   numeric(10, 2) NOT NULL,
            our_price          numeric(10, 2) NOT NULL,
            gap_pct            numeric(8, 2) NOT NULL,
            previous_price     numeric(10, 2),
            changes_last_hour  integer NOT NULL CHECK (changes_last_hour >= 0),
            observed_at        timestamptz NOT NULL,
            landed_at          timestamptz NOT NULL DEFAULT now(),
            recommendation_id  bigint,
            outcome            text NOT NULL
        );
        CREATE INDEX competitor_undercuts_pair
            ON competitor_undercuts (product_id, competitor_name, observed_at DESC);
        CREATE INDEX competitor_undercuts_observed_at ON competitor_undercuts (observed_at);
        GRANT SELECT ON competitor_undercuts TO pricing_dashboard;
        """
    )


def downgrade() -> None:
    # review_queue reads the latest view: kept as the database has it (0012, then 0014, wrote it).
    queue = op.get_bind().exec_driver_sql("SELECT pg_get_viewdef('review_queue'::regclass, true)").scalar()
    op.execute(
        f"""
        DROP TABLE competitor_undercuts;
        DROP VIEW review_queue;
        DROP VIEW pricing_recommendations_checked;
        DROP VIEW pricing_recommendations_latest;
        ALTER TABLE pricing_recommendations DROP COLUMN trigger_event_id, DROP COLUMN triggered_by;
        {VIEWS}
        CREATE VIEW review_queue AS {queue}
        GRANT SELECT ON pricing_recommendations_latest, review_queue TO pricing_dashboard;
        """
    )
