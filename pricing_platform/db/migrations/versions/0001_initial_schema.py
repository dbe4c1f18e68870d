"""Initial schema: catalog, raw event tables with derived state, ingest offsets and dead letters.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE products (
    product_id     text PRIMARY KEY,
    product_name   text NOT NULL,
    category       text NOT NULL,
    base_price     numeric(10, 2) NOT NULL CHECK (base_price > 0),
    current_price  numeric(10, 2) NOT NULL CHECK (current_price > 0),
    unit_cost      numeric(10, 2) NOT NULL CHECK (unit_cost > 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inventory_state (
    product_id     text NOT NULL REFERENCES products,
    warehouse_id   text NOT NULL,
    current_stock  integer NOT NULL CONSTRAINT stock_not_negative CHECK (current_stock >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, warehouse_id)
);

-- Every movement, applied or rejected: the audit log that stock must always equal the sum of.
CREATE TABLE inventory_events (
    event_id         uuid PRIMARY KEY,
    product_id       text NOT NULL,
    warehouse_id     text NOT NULL,
    event_type       text NOT NULL,
    quantity_change  integer NOT NULL,
    event_time       timestamptz NOT NULL,
    status           text NOT NULL CHECK (status IN ('applied', 'rejected')),
    stock_after      integer NOT NULL,
    reject_reason    text,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'rejected') = (reject_reason IS NOT NULL))
);
CREATE INDEX inventory_events_product_idx ON inventory_events (product_id, warehouse_id);
CREATE INDEX inventory_events_time_idx ON inventory_events (event_time DESC);
CREATE INDEX inventory_events_type_idx ON inventory_events (event_type);

CREATE TABLE clickstream_events (
    event_id          uuid PRIMARY KEY,
    user_id           text NOT NULL,
    session_id        uuid NOT NULL,
    event_type        text NOT NULL,
    product_id        text,
    product_name      text,
    product_category  text,
    product_price     numeric(10, 2),
    device_type       text NOT NULL,
    event_time        timestamptz NOT NULL,
    ingested_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clickstream_events_product_idx ON clickstream_events (product_id);
CREATE INDEX clickstream_events_time_idx ON clickstream_events (event_time DESC);
CREATE INDEX clickstream_events_type_idx ON clickstream_events (event_type);

CREATE TABLE product_metrics (
    product_id       text PRIMARY KEY REFERENCES products,
    product_views    bigint NOT NULL DEFAULT 0,
    cart_adds        bigint NOT NULL DEFAULT 0,
    cart_removes     bigint NOT NULL DEFAULT 0,
    purchases        bigint NOT NULL DEFAULT 0,
    revenue          numeric(16, 2) NOT NULL DEFAULT 0,
    conversion_rate  numeric(7, 4) GENERATED ALWAYS AS (
        CASE WHEN product_views > 0 THEN round(purchases::numeric / product_views, 4) END
    ) STORED,
    last_event_at    timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Full observation history.
CREATE TABLE competitor_prices (
    event_id              uuid PRIMARY KEY,
    product_id            text NOT NULL,
    competitor_name       text NOT NULL,
    competitor_price      numeric(10, 2) NOT NULL,
    our_price             numeric(10, 2) NOT NULL,
    price_difference      numeric(10, 2) NOT NULL,
    price_difference_pct  numeric(8, 2) NOT NULL,
    event_time            timestamptz NOT NULL,
    ingested_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX competitor_prices_product_idx ON competitor_prices (product_id);
CREATE INDEX competitor_prices_time_idx ON competitor_prices (event_time DESC);
CREATE INDEX competitor_prices_competitor_idx ON competitor_prices (competitor_name);

-- Newest observation per product × competitor; maintained by the ingest transaction, never moved back
-- by an older observation arriving late.
CREATE TABLE competitor_prices_latest (
    product_id            text NOT NULL,
    competitor_name       text NOT NULL,
    event_id              uuid NOT NULL,
    competitor_price      numeric(10, 2) NOT NULL,
    our_price             numeric(10, 2) NOT NULL,
    price_difference      numeric(10, 2) NOT NULL,
    price_difference_pct  numeric(8, 2) NOT NULL,
    event_time            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, competitor_name)
);

CREATE TABLE pricing_recommendations (
    recommendation_id     bigserial PRIMARY KEY,
    cycle_id              uuid NOT NULL,
    product_id            text NOT NULL,
    current_price         numeric(10, 2) NOT NULL,
    competitor_avg_price  numeric(10, 2),
    competitors_seen      smallint NOT NULL,
    price_gap_pct         numeric(8, 2),
    demand_velocity       integer NOT NULL,
    recommendation        text NOT NULL,
    recommended_price     numeric(10, 2) NOT NULL,
    confidence            numeric(4, 3) NOT NULL,
    guardrail             text,
    reason                text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cycle_id, product_id)
);
CREATE INDEX pricing_recommendations_product_idx ON pricing_recommendations (product_id, created_at DESC);
CREATE INDEX pricing_recommendations_time_idx ON pricing_recommendations (created_at DESC);
CREATE INDEX pricing_recommendations_type_idx ON pricing_recommendations (recommendation);

CREATE VIEW pricing_recommendations_latest AS
SELECT DISTINCT ON (product_id) *
FROM pricing_recommendations
ORDER BY product_id, created_at DESC, recommendation_id DESC;

-- Consumed positions, written in the same transaction as the rows they produced. A missing row means
-- the partition was never consumed by that group.
CREATE TABLE ingest_offsets (
    consumer_group  text NOT NULL,
    topic           text NOT NULL,
    partition       integer NOT NULL,
    next_offset     bigint NOT NULL CHECK (next_offset >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

CREATE TABLE dead_letters (
    dead_letter_id     bigserial PRIMARY KEY,
    consumer_group     text NOT NULL,
    topic              text NOT NULL,
    partition          integer NOT NULL,
    kafka_offset       bigint NOT NULL,
    message_key        bytea,
    payload            bytea,
    error_kind         text NOT NULL,
    reason             text NOT NULL,
    message_timestamp  timestamptz,
    received_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer_group, topic, partition, kafka_offset)
);
CREATE INDEX dead_letters_time_idx ON dead_letters (received_at DESC);
CREATE INDEX dead_letters_topic_idx ON dead_letters (topic, error_kind);
"""

DOWNGRADE = """
DROP TABLE dead_letters, ingest_offsets;
DROP VIEW pricing_recommendations_latest;
DROP TABLE pricing_recommendations, competitor_prices_latest, competitor_prices, product_metrics,
    clickstream_events, inventory_events, inventory_state, products;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
