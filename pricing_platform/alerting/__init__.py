"""Alerts: the stored, deduplicated conditions (`store`), their announcement to a Slack-compatible
webhook (`webhook`) and the rules that raise them (`rules`). The Dagster sensors in `sensors/alerts.py`
evaluate the rules and sync through `resources/alerting.py`."""

from pricing_platform.alerting.rules import AlertRules
from pricing_platform.alerting.store import Alert, SyncResult, sync_alerts

__all__ = ["Alert", "AlertRules", "SyncResult", "sync_alerts"]
