"""Analytics tables: the outputs of the `analytics` Dagster assets (funnel, elasticity, RFM, demand).

Each table is fully replaced by its asset in one transaction (DELETE + COPY), so readers always see one
complete computation; `computed_at` says when it ran.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE analytics_funnel_stages (
    stage_order     smallint PRIMARY KEY,
    stage           text NOT NULL UNIQUE,
    sessions        bigint NOT NULL,
    pct_of_first    numeric(7, 2),
    drop_off_pct    numeric(7, 2),
    is_steepest_drop boolean NOT NULL DEFAULT false,
    computed_at     timestamptz NOT NULL
);

-- A session counts in every category it reached through a product (as marts.daily_funnel_metrics);
-- sessions with only product-less page views are 'unattributed'.
CREATE TABLE analytics_funnel_breakdown (
    device_type     text NOT NULL,
    category        text NOT NULL,
    stage_order     smallint NOT NULL,
    stage           text NOT NULL,
    sessions        bigint NOT NULL,
    pct_of_first    numeric(7, 2),
    computed_at     timestamptz NOT NULL,
    PRIMARY KEY (device_type, category, stage_order)
);

CREATE TABLE analytics_session_profiles (
    converted                boolean PRIMARY KEY,
    sessions                 bigint NOT NULL,
    avg_events_per_session   numeric(10, 2) NOT NULL,
    avg_duration_s           numeric(12, 1) NOT NULL,
    avg_products_viewed      numeric(10, 2) NOT NULL,
    device_mix               jsonb NOT NULL,
    computed_at              timestamptz NOT NULL
);

CREATE TABLE analytics_price_position (
    product_id            text PRIMARY KEY,
    product_name          text NOT NULL,
    category              text NOT NULL,
    our_price             numeric(10, 2) NOT NULL,
    competitor_avg_price  numeric(10, 2),
    competitors_seen      integer NOT NULL,
    price_gap_pct         numeric(8, 2),
    gap_bucket            text NOT NULL,
    recommendation        text,
    recommended_price     numeric(10, 2),
    base_quantity         bigint NOT NULL,
    current_revenue       numeric(14, 2) NOT NULL,
    simulated_price       numeric(10, 2) NOT NULL,
    simulated_quantity    numeric(14, 2) NOT NULL,
    simulated_revenue     numeric(14, 2) NOT NULL,
    revenue_impact        numeric(14, 2) NOT NULL,
    computed_at           timestamptz NOT NULL
);

CREATE TABLE analytics_competitor_landscape (
    competitor_name   text NOT NULL,
    product_id        text NOT NULL,
    competitor_price  numeric(10, 2) NOT NULL,
    our_price         numeric(10, 2) NOT NULL,
    price_index       numeric(8, 2) NOT NULL,
    observed_at       timestamptz NOT NULL,
    is_fresh          boolean NOT NULL,
    computed_at       timestamptz NOT NULL,
    PRIMARY KEY (competitor_name, product_id)
);

CREATE TABLE analytics_elasticity_summary (
    recommendation      text PRIMARY KEY,
    products            integer NOT NULL,
    avg_price_gap_pct   numeric(8, 2),
    base_quantity       bigint NOT NULL,
    current_revenue     numeric(14, 2) NOT NULL,
    simulated_revenue   numeric(14, 2) NOT NULL,
    revenue_impact      numeric(14, 2) NOT NULL,
    elasticity          numeric(6, 3) NOT NULL,
    computed_at         timestamptz NOT NULL
);

CREATE TABLE analytics_rfm_customers (
    user_id            text PRIMARY KEY,
    last_purchase_at   timestamptz NOT NULL,
    recency_days       numeric(10, 2) NOT NULL,
    frequency          integer NOT NULL,
    monetary           numeric(14, 2) NOT NULL,
    r_score            smallint NOT NULL CHECK (r_score BETWEEN 1 AND 5),
    f_score            smallint NOT NULL CHECK (f_score BETWEEN 1 AND 5),
    m_score            smallint NOT NULL CHECK (m_score BETWEEN 1 AND 5),
    rfm_score          text NOT NULL,
    segment            text NOT NULL,
    computed_at        timestamptz NOT NULL
);
CREATE INDEX analytics_rfm_customers_segment_idx ON analytics_rfm_customers (segment);

CREATE TABLE analytics_rfm_segments (
    segment             text PRIMARY KEY,
    customers           integer NOT NULL,
    customer_share_pct  numeric(7, 2) NOT NULL,
    revenue             numeric(14, 2) NOT NULL,
    revenue_share_pct   numeric(7, 2) NOT NULL,
    avg_recency_days    numeric(10, 2),
    avg_frequency       numeric(10, 2),
    avg_monetary        numeric(14, 2),
    computed_at         timestamptz NOT NULL
);

CREATE TABLE analytics_demand_hourly (
    category     text NOT NULL,
    hour         timestamptz NOT NULL,
    purchases    integer NOT NULL,
    ma_1h        numeric(10, 3) NOT NULL,
    ma_3h        numeric(10, 3) NOT NULL,
    computed_at  timestamptz NOT NULL,
    PRIMARY KEY (category, hour)
);

CREATE TABLE analytics_demand_heatmap (
    day_of_week   smallint NOT NULL CHECK (day_of_week BETWEEN 1 AND 7),
    hour_of_day   smallint NOT NULL CHECK (hour_of_day BETWEEN 0 AND 23),
    purchases     integer NOT NULL,
    computed_at   timestamptz NOT NULL,
    PRIMARY KEY (day_of_week, hour_of_day)
);

CREATE TABLE analytics_demand_forecast (
    category            text NOT NULL,
    horizon_h           smallint NOT NULL CHECK (horizon_h >= 1),
    forecast_hour       timestamptz NOT NULL,
    forecast_purchases  numeric(10, 3) NOT NULL,
    level               numeric(10, 3) NOT NULL,
    trend               numeric(10, 3) NOT NULL,
    computed_at         timestamptz NOT NULL,
    PRIMARY KEY (category, horizon_h)
);

CREATE TABLE analytics_stockout_risk (
    product_id            text PRIMARY KEY,
    product_name          text NOT NULL,
    category              text NOT NULL,
    total_stock           integer NOT NULL,
    units_sold_window     integer NOT NULL,
    hourly_velocity       numeric(10, 3) NOT NULL,
    hours_until_stockout  numeric(12, 1),
    risk                  text NOT NULL CHECK (risk IN ('Critical', 'Warning', 'OK')),
    computed_at           timestamptz NOT NULL
);
"""

DOWNGRADE = """
DROP TABLE analytics_stockout_risk, analytics_demand_forecast, analytics_demand_heatmap,
    analytics_demand_hourly, analytics_rfm_segments, analytics_rfm_customers, analytics_elasticity_summary,
    analytics_competitor_landscape, analytics_price_position, analytics_session_profiles,
    analytics_funnel_breakdown, analytics_funnel_stages;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
