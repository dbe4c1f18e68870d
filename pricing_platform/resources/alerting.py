"""Where alerts go and when they fire, as a Dagster resource: the ALERT_* settings in one place."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

import dagster as dg
import psycopg
from pydantic import Field

from pricing_platform.alerts import WEBHOOK_TIMEOUT_S, Alert, SyncResult, sync_alerts
from pricing_platform.settings import Settings


class AlertingResource(dg.ConfigurableResource):
    """The webhook alerts are announced to (None: stored and logged only) and the sensors' thresholds.

    The thresholds live here rather than being read from the settings inside each sensor, so that a
    sensor's behaviour is entirely defined by its resources (and tests can set them per test)."""

    webhook_url: str | None = Field(None, description="Slack-compatible incoming webhook")
    webhook_timeout_s: float = WEBHOOK_TIMEOUT_S
    stockout_horizon_h: float = Field(description="warn when a slot's stock runs out within this")
    undercut_pct: float = Field(description="alert when a competitor is more than this % below us")
    weak_demand_velocity: int = Field(description="...on a product with fewer purchases in the last hour")
    competitor_staleness_s: int = Field(description="ignore competitor prices older than this")

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertingResource:
        return cls(
            webhook_url=settings.alert_webhook_url or None,
            stockout_horizon_h=settings.alert_stockout_horizon_h,
            undercut_pct=settings.alert_undercut_pct,
            weak_demand_velocity=settings.alert_weak_demand_velocity,
            # The same freshness rule as the pricing engine: alert on the prices it acts on.
            competitor_staleness_s=settings.pricing_staleness_s,
        )

    def sync(
        self,
        conn: psycopg.Connection,
        kind: str,
        current: Sequence[Alert],
        log: logging.Logger,
        *,
        undetermined: Collection[str] = (),
    ) -> SyncResult:
        return sync_alerts(
            conn,
            kind,
            current,
            self.webhook_url,
            log,
            undetermined=undetermined,
            timeout_s=self.webhook_timeout_s,
        )
