"""Dashboard roles, price approvals with their audit trail, and per-minute ingest counts.

- `pricing_dashboard` reads; `pricing_approver` may only call `approve_recommendation`.
- `price_changes` is the audit trail: who approved which recommendation, when, old and new price.
- `ingest_throughput` counts landed events and dead letters per stream and minute, written by the
  workers in each batch's transaction, so "events per minute" never scans an event table.
- competitor_prices gets a (product_id, event_time) index for one product's recent price history.

Role names are literals here (migrations are frozen in time); `pricing_platform/core/roles.py` holds the
same names for the code, and a test checks they agree.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

READER = "pricing_dashboard"
APPROVER = "pricing_approver"

# What the dashboard reads: latest/state tables, bounded histories and the analytics tables (the dbt
# marts are granted by dbt itself, see dbt_project.yml `grants`).
READABLE = (
    "products",
    "inventory_state",
    "competitor_prices",
    "competitor_prices_latest",
    "pricing_recommendations",
    "pricing_recommendations_latest",
    "alerts",
    "ingest_offsets",
    "price_changes",
    "ingest_throughput",
    "analytics_funnel_stages",
    "analytics_funnel_breakdown",
    "analytics_session_profiles",
    "analytics_price_position",
    "analytics_competitor_landscape",
    "analytics_elasticity_summary",
    "analytics_rfm_customers",
    "analytics_rfm_segments",
    "analytics_demand_hourly",
    "analytics_demand_heatmap",
    "analytics_demand_forecast",
    "analytics_stockout_risk",
)

# Composed from this module's constants only, never from input.
UPGRADE = f"""
DO $$
BEGIN
    -- Roles belong to the whole server: another database on it (or an administrator) may have created
    -- them already.
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER}') THEN
        CREATE ROLE {READER} LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APPROVER}') THEN
        CREATE ROLE {APPROVER} LOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'the role running the migrations (%) may not create roles', current_user
        USING HINT = 'As an administrator run: CREATE ROLE {READER} LOGIN; CREATE ROLE {APPROVER} LOGIN; '
                     'then migrate again (or grant the migrating role CREATEROLE).';
END $$;

CREATE TABLE price_changes (
    price_change_id    bigserial PRIMARY KEY,
    product_id         text NOT NULL REFERENCES products,
    recommendation_id  bigint NOT NULL UNIQUE REFERENCES pricing_recommendations,
    old_price          numeric(10, 2) NOT NULL,
    new_price          numeric(10, 2) NOT NULL,
    approved_by        text NOT NULL CHECK (btrim(approved_by) <> ''),
    approved_at        timestamptz NOT NULL DEFAULT now(),
    note               text
);
CREATE INDEX price_changes_product_idx ON price_changes (product_id, approved_at DESC);

CREATE TABLE ingest_throughput (
    stream        text NOT NULL,
    minute        timestamptz NOT NULL,
    events        bigint NOT NULL DEFAULT 0,
    dead_letters  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (stream, minute)
);

CREATE INDEX competitor_prices_product_time_idx ON competitor_prices (product_id, event_time DESC);
DROP INDEX competitor_prices_product_idx;

-- Approving applies the recommended price and records who did it, atomically. It refuses when the
-- price has moved since the recommendation was computed (another approval, a manual change), when the
-- recommendation holds, or when it was approved before: the analyst must look at a fresh one.
CREATE FUNCTION approve_recommendation(
    p_recommendation_id bigint, p_approved_by text, p_note text DEFAULT NULL
)
RETURNS price_changes
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    rec pricing_recommendations;
    price numeric(10, 2);
    change price_changes;
BEGIN
    IF p_approved_by IS NULL OR btrim(p_approved_by) = '' THEN
        RAISE EXCEPTION 'approval needs the name of the analyst approving it' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO rec FROM pricing_recommendations WHERE recommendation_id = p_recommendation_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'recommendation % does not exist', p_recommendation_id USING ERRCODE = 'P0002';
    END IF;
    IF rec.recommendation = 'hold' THEN
        RAISE EXCEPTION 'recommendation % for % is hold: there is no price change to approve',
            p_recommendation_id, rec.product_id USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT FROM price_changes WHERE recommendation_id = p_recommendation_id) THEN
        RAISE EXCEPTION 'recommendation % was already approved', p_recommendation_id USING ERRCODE = '23505';
    END IF;
    SELECT current_price INTO price FROM products WHERE product_id = rec.product_id FOR UPDATE;
    IF price <> rec.current_price THEN
        RAISE EXCEPTION 'the price of % is % now, not the % that recommendation % started from',
            rec.product_id, price, rec.current_price, p_recommendation_id USING ERRCODE = '40001';
    END IF;
    UPDATE products SET current_price = rec.recommended_price, updated_at = now()
    WHERE product_id = rec.product_id;
    INSERT INTO price_changes (product_id, recommendation_id, old_price, new_price, approved_by, note)
    VALUES (rec.product_id, p_recommendation_id, price, rec.recommended_price, btrim(p_approved_by), p_note)
    RETURNING * INTO change;
    RETURN change;
END
$fn$;
REVOKE ALL ON FUNCTION approve_recommendation(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION approve_recommendation(bigint, text, text) TO {APPROVER};

GRANT USAGE ON SCHEMA public TO {READER}, {APPROVER};
GRANT SELECT ON {", ".join(READABLE)} TO {READER};
"""  # noqa: S608

DOWNGRADE = f"""
REVOKE ALL ON {", ".join(READABLE)} FROM {READER};
REVOKE USAGE ON SCHEMA public FROM {READER}, {APPROVER};
DROP FUNCTION approve_recommendation(bigint, text, text);
CREATE INDEX competitor_prices_product_idx ON competitor_prices (product_id);
DROP INDEX competitor_prices_product_time_idx;
DROP TABLE ingest_throughput, price_changes;
-- The roles stay: other databases on the server may use them.
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
