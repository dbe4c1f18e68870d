"""Alerts people trust: hysteresis, re-notification, a defined first run, a daily cap and a digest.

- `alerts.missed_evaluations`: consecutive evaluations that no longer saw an open alert's condition; the
  alert clears when it reaches ALERT_CLEAR_AFTER_EVALUATIONS, and seeing the condition again resets it.
- `alerts.notified_context`: the context as last announced, so that a rule can tell a further move (the
  competitor price-move alert is announced again) from an unchanged condition (not announced).
- `alert_evaluations`: one row per alert kind once its sensor has evaluated. No row means the next
  evaluation is the kind's first run, whose alerts are announced as one summary (`summary_pending`).
  Kinds that already have alerts get their row here, so an upgrade is not taken for a first run.
- `alert_notifications`: every webhook message posted, per kind; the daily cap counts them and the digest
  interval starts at the last digest.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE alerts
    ADD COLUMN missed_evaluations integer NOT NULL DEFAULT 0 CHECK (missed_evaluations >= 0),
    ADD COLUMN notified_context jsonb;
UPDATE alerts SET notified_context = context WHERE notified_at IS NOT NULL;

CREATE TABLE alert_evaluations (
    kind               text PRIMARY KEY,
    evaluations        bigint NOT NULL DEFAULT 1,
    first_evaluated_at timestamptz NOT NULL DEFAULT now(),
    last_evaluated_at  timestamptz NOT NULL DEFAULT now(),
    summary_pending    boolean NOT NULL DEFAULT false
);
INSERT INTO alert_evaluations (kind) SELECT DISTINCT kind FROM alerts;

CREATE TABLE alert_notifications (
    notification_id bigserial PRIMARY KEY,
    kind            text NOT NULL,
    message         text NOT NULL
        CHECK (message IN ('alert', 'resolved', 'summary', 'digest', 'cap_reached')),
    alert_ids       bigint[] NOT NULL DEFAULT '{}',
    sent_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_notifications_kind_sent_idx ON alert_notifications (kind, sent_at DESC);
"""

DOWNGRADE = """
DROP TABLE alert_notifications, alert_evaluations;
ALTER TABLE alerts DROP COLUMN notified_context, DROP COLUMN missed_evaluations;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
