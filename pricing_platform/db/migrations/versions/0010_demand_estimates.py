"""Pricing that learns: demand estimates, per-product price bounds, the strategy of each recommendation.

- `demand_estimates`: the price elasticity per product and per category that the hourly
  `demand_estimates` asset learns from the shop's own views and purchases (pricing/demand.py), with the
  interval, the evidence behind it and whether it is the product's own, borrowed from its category, or the
  prior. Replaced as a whole by each run (readers never see half a run); the dashboard reads it.
- `products.min_price` / `max_price`: optional per-product bounds (MAP) the profit strategy keeps within;
  a minimum above the maximum is refused, and so is any price change outside them (a trigger, so every
  path, approvals included, is covered).
- `analytics_price_position.elasticity` / `elasticity_source`: the elasticity the revenue simulation used
  per product (the learned one, or ANALYTICS_ELASTICITY where there is none).
- `pricing_recommendations.strategy`: which strategy decided (`rules` for every earlier row); the latest
  and checked views are recreated so they carry the column.

No new index on the event tables: the hourly read of a window uses the event-time index, and every index
on clickstream_events costs ingest throughput.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The same lookups as 0005 and 0008: written again so that `r.*` takes in the new column (a view's `*`
# is expanded when it is created).
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

ALTER TABLE products
    ADD COLUMN min_price numeric(10, 2) CONSTRAINT min_price_positive CHECK (min_price > 0),
    ADD COLUMN max_price numeric(10, 2) CONSTRAINT max_price_positive CHECK (max_price > 0),
    ADD CONSTRAINT min_price_not_above_max_price CHECK (min_price <= max_price);

-- Every path that changes a price (apply_price_change, hence approvals) keeps within the bounds; setting
-- bounds the current price is outside of is allowed (the next change must come back inside).
CREATE FUNCTION price_within_bounds() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF NEW.min_price IS NOT NULL AND NEW.current_price < NEW.min_price THEN
        RAISE EXCEPTION 'the price % of % is below its minimum price %', NEW.current_price, NEW.product_id,
            NEW.min_price USING ERRCODE = 'PA010';
    END IF;
    IF NEW.max_price IS NOT NULL AND NEW.current_price > NEW.max_price THEN
        RAISE EXCEPTION 'the price % of % is above its maximum price %', NEW.current_price, NEW.product_id,
            NEW.max_price USING ERRCODE = 'PA010';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER price_within_bounds BEFORE UPDATE OF current_price ON products
    FOR EACH ROW EXECUTE FUNCTION price_within_bounds();

ALTER TABLE pricing_recommendations
    ADD COLUMN strategy text NOT NULL DEFAULT 'rules'
        CONSTRAINT known_strategy CHECK (strategy IN ('rules', 'profit'));

ALTER TABLE analytics_price_position
    ADD COLUMN elasticity float8,
    ADD COLUMN elasticity_source text;
"""

DOWNGRADE = f"""
DROP VIEW pricing_recommendations_checked;
DROP VIEW pricing_recommendations_latest;
ALTER TABLE pricing_recommendations DROP COLUMN strategy;
{VIEWS}
GRANT SELECT ON pricing_recommendations_latest TO pricing_dashboard;
ALTER TABLE analytics_price_position DROP COLUMN elasticity, DROP COLUMN elasticity_source;
DROP TRIGGER price_within_bounds ON products;
DROP FUNCTION price_within_bounds();
ALTER TABLE products DROP COLUMN min_price, DROP COLUMN max_price;
DROP TABLE demand_estimates;
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute(VIEWS)


def downgrade() -> None:
    op.execute(DOWNGRADE)
