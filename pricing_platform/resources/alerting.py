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
from pricing_platform.alerting.store import Alert, Renotify, SyncResult, sync_alerts


class AlertingResource(dg.ConfigurableResource, AlertRules):
    # The rules' fields, and (from ALERT_WEBHOOK_URL, ALERT_WEBHOOK_TIMEOUT_S, ALERT_DAILY_CAP,
    # ALERT_DIGEST_INTERVAL_S):
    webhook_url: str | None  # Slack-compatible incoming webhook; unset: stored and logged only
    webhook_timeout_s: float
    daily_cap: int
    digest_interval_s: int

    def sync(
        self,
        conn: psycopg.Connection,
        kind: str,
        current: Sequence[Alert],
        log: logging.Logger,
        *,
        holding: Sequence[Alert] = (),
        undetermined: Collection[str] = (),
        hysteresis: bool = True,
        renotify: Renotify | None = None,
    ) -> SyncResult:
        """Store the alerts of `kind` that hold now, then announce what is new (a failed post is logged,
        never raised, and retried on the next evaluation). With `hysteresis`, an alert clears only after
        ALERT_CLEAR_AFTER_EVALUATIONS evaluations in a row without its condition; without, at the first."""
        result = sync_alerts(
            conn,
            kind,
            current,
            log,
            holding=holding,
            undetermined=undetermined,
            clear_after=self.clear_after_evaluations if hysteresis else 1,
            renotify=renotify,
        )
        if not self.webhook_url:
            return result
        notified, failures = webhook.announce(
            conn,
            kind,
            self.webhook_url,
            log,
            timeout_s=self.webhook_timeout_s,
            daily_cap=self.daily_cap,
            digest_interval_s=self.digest_interval_s,
        )
        return dataclasses.replace(result, notified=notified, notify_failures=failures)
