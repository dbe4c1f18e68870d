"""The outbound price feed: every applied price change is written, in the transaction that changes the
price, to a transactional outbox that relays publish to `pricing.price_changes`.

- `products.price_version` counts each product's price changes; feed consumers apply a message only when
  its version is above the one they hold (duplicates and stale snapshots drop out).
- `price_changes` gains the feed's identity and content: `change_id` (unique, the same in every copy of
  the message), `version`, `reason`; `recommendation_id` becomes optional (later sources of price
  changes, such as experiments, have none).
- `price_change_outbox`: one row per change, in the change's transaction, with the message as JSON and
  the product's lane (a hash of the product id): a relay holds a lane exclusively, so each product's
  changes are published in order by one relay at a time. `published_at` is set once the broker has
  acknowledged the message.
- `apply_price_change` is the one way a price changes (locks the product, bumps the version, writes the
  audit row and the outbox row, notifies the relays); `approve_recommendation` keeps its guards and
  calls it.
- `price_feed_relays`: relays' heartbeats, so they can share the lanes fairly.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The outbox has 16 lanes (`% 16` below); a relay holds up to its share of them. A literal (migrations
# are frozen in time); pricing_platform/pricefeed/relay.py holds the same number and a test checks they
# agree.

APPLY = """
CREATE FUNCTION apply_price_change(
    p_product_id text, p_new_price numeric, p_applied_by text, p_reason text,
    p_recommendation_id bigint DEFAULT NULL, p_note text DEFAULT NULL
)
RETURNS price_changes
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    old_price numeric(10, 2);
    next_version bigint;
    change price_changes;
BEGIN
    IF p_new_price IS NULL OR p_new_price <= 0 THEN
        RAISE EXCEPTION 'a new price must be positive, got %', p_new_price USING ERRCODE = 'PA007';
    END IF;
    SELECT current_price, price_version + 1 INTO old_price, next_version
    FROM products WHERE product_id = p_product_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'product % does not exist', p_product_id USING ERRCODE = 'PA008';
    END IF;
    IF old_price = p_new_price THEN
        RAISE EXCEPTION 'the price of % is % already', p_product_id, p_new_price USING ERRCODE = 'PA009';
    END IF;
    UPDATE products SET current_price = p_new_price, price_version = next_version, updated_at = now()
    WHERE product_id = p_product_id;
    INSERT INTO price_changes (product_id, recommendation_id, old_price, new_price, approved_by, note,
                               version, reason)
    VALUES (p_product_id, p_recommendation_id, old_price, p_new_price, btrim(p_applied_by), p_note,
            next_version, coalesce(p_reason, ''))
    RETURNING * INTO change;
    INSERT INTO price_change_outbox (change_id, product_id, lane, payload)
    VALUES (
        change.change_id, p_product_id, abs(hashtext(p_product_id)) % 16,
        jsonb_build_object(
            'type', 'price_change',
            'change_id', change.change_id,
            'product_id', p_product_id,
            'old_price', old_price,
            'new_price', p_new_price,
            'version', next_version,
            'recommendation_id', p_recommendation_id,
            'applied_by', change.approved_by,
            'applied_at', to_char(change.approved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'reason', change.reason
        )
    );
    PERFORM pg_notify('price_change_outbox', (abs(hashtext(p_product_id)) % 16)::text);
    RETURN change;
END
$fn$;
"""

APPROVE = """
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
    RETURN apply_price_change(
        rec.product_id, rec.recommended_price, p_approved_by, rec.reason, p_recommendation_id, p_note
    );
END
$fn$;
"""


def upgrade() -> None:
    op.execute("ALTER TABLE products ADD COLUMN price_version bigint NOT NULL DEFAULT 0")
    op.execute(
        """
        ALTER TABLE price_changes
            ADD COLUMN change_id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
            ADD COLUMN version bigint,
            ADD COLUMN reason text NOT NULL DEFAULT '',
            ALTER COLUMN recommendation_id DROP NOT NULL
        """
    )
    op.execute(
        """
        CREATE TABLE price_change_outbox (
            outbox_id     bigserial PRIMARY KEY,
            change_id     uuid NOT NULL REFERENCES price_changes (change_id),
            product_id    text NOT NULL,
            lane          smallint NOT NULL,
            payload       jsonb NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            published_at  timestamptz,
            -- set (with published_at) when a relay refuses a row that breaks the feed's contract
            refused_reason text
        )
        """
    )
    op.execute(
        "CREATE INDEX price_change_outbox_unsent_idx ON price_change_outbox (lane, outbox_id) "
        "WHERE published_at IS NULL"
    )
    op.execute(
        """
        CREATE TABLE price_feed_relays (
            relay_id  text PRIMARY KEY,
            seen_at   timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(APPLY)
    op.execute(APPROVE)
    # Only the SECURITY DEFINER functions change prices; the approver keeps executing approvals alone.
    op.execute(
        "REVOKE ALL ON FUNCTION apply_price_change(text, numeric, text, text, bigint, text) FROM PUBLIC"
    )


def downgrade() -> None:
    # 0006's approval function, which changed the price itself.
    spec = importlib.util.spec_from_file_location(
        "m0006", Path(__file__).with_name("0006_approval_guards.py")
    )
    assert spec is not None and spec.loader is not None
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    op.execute("DROP FUNCTION approve_recommendation(bigint, text, text)")
    op.execute(previous.FUNCTION)
    op.execute("GRANT EXECUTE ON FUNCTION approve_recommendation(bigint, text, text) TO pricing_approver")
    op.execute("DROP FUNCTION apply_price_change(text, numeric, text, text, bigint, text)")
    op.execute("DROP TABLE price_feed_relays")
    op.execute("DROP TABLE price_change_outbox")
    op.execute(
        "ALTER TABLE price_changes DROP COLUMN change_id, DROP COLUMN version, DROP COLUMN reason, "
        "ALTER COLUMN recommendation_id SET NOT NULL"
    )
    op.execute("ALTER TABLE products DROP COLUMN price_version")
