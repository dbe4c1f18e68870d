"""Announcing alerts to a Slack-compatible incoming webhook: the message shape, the POST, and the step that
posts every stored alert not yet announced (open ones first, most severe first) and marks it notified."""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pricing_platform.alerting.store import COLUMNS, Alert, alert_from_row
from pricing_platform.core import tables

_SEVERITY_ICON: Final = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":information_source:",
}
_RESOLVED_ICON: Final = ":white_check_mark:"

# Slack takes about one message per second per webhook, and a sensor evaluation must end within its
# timeout: the rest of a large batch goes out on the following evaluations.
MAX_POSTS_PER_EVALUATION: Final = 20
# A "resolved" whose post failed is retried this long; announcing it days later would only be noise.
RESOLUTION_RETRY_HOURS: Final = 24
# Slack's block limits: 10 fields per section, 2,000 characters per field, 3,000 per section text.
_MAX_FIELDS: Final = 10
_MAX_FIELD_CHARS: Final = 2000
_MAX_TEXT_CHARS: Final = 3000

# What still has to be announced: open alerts never posted, and cleared alerts that were announced as open
# but whose "resolved" was not (notified_at older than cleared_at). Alerts cleared before anyone heard of
# them are not announced at all. Open ones first, most severe first.
PENDING_SQL = sql.SQL(
    """
    SELECT {columns}
    FROM {alerts}
    WHERE kind = %(kind)s
      AND ((cleared_at IS NULL AND notified_at IS NULL)
           OR (cleared_at > now() - make_interval(hours => %(retry_hours)s) AND notified_at < cleared_at))
    ORDER BY cleared_at IS NOT NULL,
             CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
             opened_at, alert_id
    LIMIT %(limit)s
    """
).format(columns=COLUMNS, alerts=sql.Identifier(tables.ALERTS))

MARK_NOTIFIED_SQL = sql.SQL("UPDATE {} SET notified_at = now() WHERE alert_id = %s").format(
    sql.Identifier(tables.ALERTS)
)


def slack_payload(
    alert: Alert, *, resolved: bool = False, opened_at: datetime | None = None
) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text` is the notification fallback, `blocks` the rich layout
    (other Slack-compatible receivers, e.g. Mattermost, read `text`)."""
    if resolved:
        headline = f"{_RESOLVED_ICON} *RESOLVED* {_escape(alert.title)}"
    else:
        headline = f"{_SEVERITY_ICON[alert.severity]} *{alert.severity.upper()}* {_escape(alert.title)}"
    headline = _truncate(headline, _MAX_TEXT_CHARS)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": headline}}]
    fields = [
        {
            "type": "mrkdwn",
            "text": _truncate(f"*{_escape(str(name))}*\n{_escape(_render(value))}", _MAX_FIELD_CHARS),
        }
        for name, value in list(alert.context.items())[:_MAX_FIELDS]
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    footer = f"`{_escape(alert.condition_key)}` · {_escape(alert.kind)}"
    if opened_at is not None:
        footer += f" · opened {opened_at.isoformat(timespec='seconds')}"
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _truncate(footer, _MAX_TEXT_CHARS)}]}
    )
    return {"text": headline, "blocks": blocks}


def post_to_webhook(url: str, payload: Mapping[str, Any], timeout_s: float) -> None:
    """POST `payload` as JSON; raises on a transport error or a non-2xx answer."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        # urlopen would also read file:// and ftp:// URLs.
        raise ValueError("the alert webhook URL must be http(s)")
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, default=str).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        response.read()


def announce(
    conn: psycopg.Connection, kind: str, webhook_url: str, log: logging.Logger, timeout_s: float
) -> tuple[int, int]:
    # Outside the sync transaction: a slow webhook must not hold the alert rows locked.
    with conn.cursor(row_factory=dict_row) as cur:
        pending = cur.execute(
            PENDING_SQL,
            {"kind": kind, "retry_hours": RESOLUTION_RETRY_HOURS, "limit": MAX_POSTS_PER_EVALUATION},
        ).fetchall()
    notified = failures = 0
    for row in pending:
        resolved = row["cleared_at"] is not None
        payload = slack_payload(alert_from_row(row), resolved=resolved, opened_at=row["opened_at"])
        try:
            post_to_webhook(webhook_url, payload, timeout_s)
        except urllib.error.HTTPError as exc:
            # The webhook answered: this message was refused, the next one may not be (unless rate-limited).
            failures += 1
            log.warning(
                "alert webhook refused %s (%s): HTTP %s %s", row["condition_key"], kind, exc.code, exc.reason
            )
            if exc.code == 429:
                break
            continue
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # Unreachable or timing out: every further post would wait as long, so stop until next time.
            failures += 1
            log.warning("alert webhook unreachable, %s post(s) deferred: %s", len(pending) - notified, exc)
            break
        with conn.transaction():
            conn.execute(MARK_NOTIFIED_SQL, (row["alert_id"],))
        notified += 1
    return notified, failures


def _render(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value, default=str)


def _escape(text: str) -> str:
    # The three characters Slack's mrkdwn requires escaped.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
