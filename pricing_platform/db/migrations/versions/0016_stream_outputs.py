"""What the stream processor derives from the clickstream, landed by ingest workers exactly once.

`shopper_sessions` (one row per closed session), `cart_abandonments` (sessions with several add-to-carts
and no purchase) and `funnel_minutes` (views, cart adds and purchases per product and minute of event
time). Each row is keyed by what identifies it in the stream (session id and start; product and minute), so a
message redelivered by the broker lands once even outside the offsets transaction that already prevents it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE shopper_sessions (
            session_id       uuid NOT NULL,
            user_id          text NOT NULL,
            device_type      text NOT NULL,
            started_at       timestamptz NOT NULL,
            ended_at         timestamptz NOT NULL,
            events           integer NOT NULL CHECK (events > 0),
            product_views    integer NOT NULL CHECK (product_views >= 0),
            products_viewed  text[] NOT NULL,
            cart_adds        integer NOT NULL CHECK (cart_adds >= 0),
            purchases        integer NOT NULL CHECK (purchases >= 0),
            revenue          numeric(12, 2) NOT NULL,
            converted        boolean NOT NULL,
            landed_at        timestamptz NOT NULL DEFAULT now(),
            CHECK (ended_at >= started_at),
            -- A shopper back after the gap under the same session id starts a second session.
            PRIMARY KEY (session_id, started_at)
        );
        CREATE INDEX shopper_sessions_ended_at ON shopper_sessions (ended_at);

        CREATE TABLE cart_abandonments (
            session_id       uuid NOT NULL,
            user_id          text NOT NULL,
            device_type      text NOT NULL,
            first_cart_at    timestamptz NOT NULL,
            last_cart_at     timestamptz NOT NULL,
            cart_adds        integer NOT NULL CHECK (cart_adds > 0),
            products         text[] NOT NULL,
            cart_value       numeric(12, 2) NOT NULL,
            landed_at        timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (session_id, first_cart_at)
        );
        CREATE INDEX cart_abandonments_last_cart_at ON cart_abandonments (last_cart_at);

        CREATE TABLE funnel_minutes (
            product_id       text NOT NULL,
            minute           timestamptz NOT NULL,
            product_category text NOT NULL,
            product_views    integer NOT NULL CHECK (product_views >= 0),
            cart_adds        integer NOT NULL CHECK (cart_adds >= 0),
            purchases        integer NOT NULL CHECK (purchases >= 0),
            landed_at        timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (product_id, minute)
        );
        CREATE INDEX funnel_minutes_minute ON funnel_minutes (minute);

        GRANT SELECT ON shopper_sessions, cart_abandonments, funnel_minutes TO pricing_dashboard;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE funnel_minutes, cart_abandonments, shopper_sessions")
