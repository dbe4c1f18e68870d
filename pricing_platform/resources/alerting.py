"""Where alerts go and when they fire, as a Dagster resource: the alert rules' thresholds (`AlertRules`,
which this resource is) and the webhook the sensors announce to."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Sequence

import dagster as dg
import psycopg

from pricing_platform.alerting import webhook
from pricing_platform.alerting.rules import AlertRules
from pricing_platform.alerting.store import Alert, SyncResult, sync_alerts


class AlertingResource(dg.ConfigurableResource, AlertRules):
    # The rules' fields, and (from ALERT_WEBHOOK_URL, ALERT_WEBHOOK_TIMEOUT_S):
    webhook_url: str | None  # Slack-compatible incoming webhook; unset: stored and logged only
    webhook_timeout_s: float

    def sync(
        self,
        conn: psycopg.Connection,
        kind: str,
        current: Sequence[Alert],
        log: logging.Logger,
        *,
        undetermined: Collection[str] = (),
    ) -> SyncResult:
        """Store the alerts of `kind` that hold now, then announce what is new (a failed post is logged,
        never raised, and retried on the next evaluation)."""
        result = sync_alerts(conn, kind, current, log, undetermined=undetermined)
        if not self.webhook_url:
            return result
        notified, failures = webhook.announce(conn, kind, self.webhook_url, log, self.webhook_timeout_s)
        return dataclasses.replace(result, notified=notified, notify_failures=failures)
