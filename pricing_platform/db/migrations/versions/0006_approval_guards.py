"""Approvals refuse superseded recommendations; refusals carry SQLSTATEs of their own; the read-only role
loses what no page needs.

- `approve_recommendation` locks the product first and then checks, so of two concurrent approvals of one
  recommendation the second is told "already approved". It also refuses a recommendation the engine has
  since superseded with a different decision or price (a newer cycle that agrees is fine: the analyst
  approves what the engine still says). Refusals use SQLSTATE class `PA` (never `40001`/`23505`, which
  generic retry logic would retry forever).
- `pricing_dashboard` no longer reads `ingest_offsets` (no page does), and PUBLIC may not create objects
  in `public` (the default since PostgreSQL 15, not on clusters upgraded from older versions; the
  SECURITY DEFINER function resolves names in `public`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# SQLSTATEs of the refusals; `pricing_platform/dashboard/approvals.py` maps the class to ApprovalRefused.
FUNCTION = """
CREATE OR REPLACE FUNCTION approve_recommendation(
    p_recommendation_id bigint, p_approved_by text, p_note text DEFAULT NULL
)
RETURNS price_changes
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    rec pricing_recommendations;
    newest pricing_recommendations;
    price numeric(10, 2);
    change price_changes;
BEGIN
    IF p_approved_by IS NULL OR btrim(p_approved_by) = '' THEN
        RAISE EXCEPTION 'approval needs the name of the analyst approving it' USING ERRCODE = 'PA001';
    END IF;
    SELECT * INTO rec FROM pricing_recommendations WHERE recommendation_id = p_recommendation_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'recommendation % does not exist', p_recommendation_id USING ERRCODE = 'PA002';
    END IF;
    IF rec.recommendation = 'hold' THEN
        RAISE EXCEPTION 'recommendation % for % is hold: there is no price change to approve',
            p_recommendation_id, rec.product_id USING ERRCODE = 'PA003';
    END IF;
    -- Serialises approvals of one product: everything below sees the other's outcome.
    SELECT current_price INTO price FROM products WHERE product_id = rec.product_id FOR UPDATE;
    IF EXISTS (SELECT FROM price_changes WHERE recommendation_id = p_recommendation_id) THEN
        RAISE EXCEPTION 'recommendation % was already approved', p_recommendation_id USING ERRCODE = 'PA004';
    END IF;
    IF price <> rec.current_price THEN
        RAISE EXCEPTION 'the price of % is % now, not the % that recommendation % started from',
            rec.product_id, price, rec.current_price, p_recommendation_id USING ERRCODE = 'PA005';
    END IF;
    SELECT * INTO newest FROM pricing_recommendations WHERE product_id = rec.product_id
    ORDER BY created_at DESC, recommendation_id DESC LIMIT 1;
    IF newest.recommendation_id <> rec.recommendation_id
       AND (newest.recommendation <> rec.recommendation
            OR newest.recommended_price <> rec.recommended_price) THEN
        RAISE EXCEPTION 'recommendation % is superseded: the engine now says % at % for %',
            p_recommendation_id, newest.recommendation, newest.recommended_price, rec.product_id
            USING ERRCODE = 'PA006';
    END IF;
    UPDATE products SET current_price = rec.recommended_price, updated_at = now()
    WHERE product_id = rec.product_id;
    INSERT INTO price_changes (product_id, recommendation_id, old_price, new_price, approved_by, note)
    VALUES (rec.product_id, p_recommendation_id, price, rec.recommended_price, btrim(p_approved_by), p_note)
    RETURNING * INTO change;
    RETURN change;
END
$fn$;
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    op.execute("REVOKE SELECT ON ingest_offsets FROM pricing_dashboard")
    op.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")


def downgrade() -> None:
    # The function keeps 0006's guards: they only refuse what 0004 wrongly allowed.
    op.execute("GRANT SELECT ON ingest_offsets TO pricing_dashboard")
