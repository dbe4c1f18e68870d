"""Announcing alerts to a Slack-compatible incoming webhook: the message shapes, the POST, and the step that
posts what is pending (open ones first, most severe first) and marks it notified: one message per alert,
or one summary on a kind's first run, one digest for the low-severity ones, and no more than the daily
cap (`decisions.plan_messages` decides; every message posted is logged in `alert_notifications`)."""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pricing_platform.alerting.decisions import Message, Pending, digest_due, plan_messages
from pricing_platform.alerting.store import COLUMNS, Alert, alert_from_row
from pricing_platform.core import tables

_SEVERITY_ICON: Final = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":information_source:",
}
_RESOLVED_ICON: Final = ":white_check_mark:"
_SUMMARY_ICON: Final = ":bell:"
_DIGEST_ICON: Final = ":memo:"
_CAP_ICON: Final = ":no_bell:"
# Alerts listed by name in a summary or digest; the rest are counted.
MAX_LISTED: Final = 25

# Slack takes about one message per second per webhook, and a sensor evaluation must end within its
# timeout: the rest of a large batch goes out on the following evaluations (the daily cap bounds the day).
MAX_POSTS_PER_EVALUATION: Final = 20
# A "resolved" whose post failed is retried this long; announcing it days later would only be noise.
RESOLUTION_RETRY_HOURS: Final = 24
# Slack's block limits: 10 fields per section, 2,000 characters per field, 3,000 per section text.
_MAX_FIELDS: Final = 10
_MAX_FIELD_CHARS: Final = 2000
_MAX_TEXT_CHARS: Final = 3000

# What still has to be announced: open alerts never posted (or news again), and cleared alerts that were
# announced as open but whose "resolved" was not (notified_at older than cleared_at). Alerts cleared
# before anyone heard of them are not announced at all. Open ones first, most severe first. Not limited:
# a summary or digest covers them all (a kind's open alerts are bounded by the catalog).
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
    """
).format(columns=COLUMNS, alerts=sql.Identifier(tables.ALERTS))

# The kind's notification state: its first-run summary, today's messages (UTC day) against the cap, and
# when the last digest went out.
STATE_SQL = sql.SQL(
    """
    SELECT coalesce((SELECT summary_pending FROM {evaluations} WHERE kind = %(kind)s), false)
               AS summary_pending,
           count(*) FILTER (WHERE message <> 'cap_reached' AND sent_at >= date_trunc('day', now(), 'UTC'))
               AS sent_today,
           count(*) FILTER (WHERE message = 'cap_reached' AND sent_at >= date_trunc('day', now(), 'UTC')) > 0
               AS cap_notice_sent,
           max(sent_at) FILTER (WHERE message = 'digest') AS last_digest_at,
           now() AS now
    FROM {notifications}
    WHERE kind = %(kind)s
    """
).format(
    evaluations=sql.Identifier(tables.ALERT_EVALUATIONS),
    notifications=sql.Identifier(tables.ALERT_NOTIFICATIONS),
)

RECORD_SQL = sql.SQL("INSERT INTO {} (kind, message, alert_ids) VALUES (%s, %s, %s)").format(
    sql.Identifier(tables.ALERT_NOTIFICATIONS)
)

# notified_context: what a later evaluation compares with to tell whether the alert is news again.
MARK_NOTIFIED_SQL = sql.SQL(
    "UPDATE {} SET notified_at = now(), notified_context = context WHERE alert_id = ANY(%s)"
).format(sql.Identifier(tables.ALERTS))

SUMMARY_SENT_SQL = sql.SQL("UPDATE {} SET summary_pending = false WHERE kind = %s").format(
    sql.Identifier(tables.ALERT_EVALUATIONS)
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


def summary_payload(kind: str, alerts: Sequence[Alert]) -> dict[str, Any]:
    """The first run's one message: every condition that already held when the kind was first evaluated."""
    return _list_payload(
        f"{_SUMMARY_ICON} *{len(alerts)} {_label(kind)} alert(s) open at the first evaluation*"
        f"{_by_severity(alerts)}",
        [f"[{a.severity}] {_line(a)}" for a in alerts],
        f"{_escape(kind)} · first run: one summary instead of a message per alert; from now on each change "
        "is announced",
    )


def digest_payload(kind: str, opened: Sequence[Alert], resolved: Sequence[Alert]) -> dict[str, Any]:
    """The low-severity alerts since the last digest, as one message."""
    parts = [f"{len(opened)} open"] + ([f"{len(resolved)} resolved"] if resolved else [])
    lines = [_line(a) for a in opened] + [f"{_RESOLVED_ICON} {_line(a)}" for a in resolved]
    return _list_payload(
        f"{_DIGEST_ICON} *Digest of low-severity {_label(kind)} alerts*: {', '.join(parts)}",
        lines,
        f"{_escape(kind)} · low-severity alerts are collected into one digest",
    )


def cap_payload(kind: str, daily_cap: int, held: int) -> dict[str, Any]:
    """Said once a day when the cap holds messages back, so that silence is not taken for calm."""
    headline = (
        f"{_CAP_ICON} *Daily cap reached*: {daily_cap} {_label(kind)} message(s) posted today; {held} more "
        "alert(s) held back until 00:00 UTC (all are stored in the alerts table and shown on the dashboard)"
    )
    return {"text": headline, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": headline}}]}


def _list_payload(headline: str, lines: Sequence[str], footer: str) -> dict[str, Any]:
    listed = [f"• {line}" for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        listed.append(f"… and {len(lines) - MAX_LISTED} more")
    headline = _truncate(headline, _MAX_TEXT_CHARS)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": headline}}]
    if listed:
        body = _truncate("\n".join(listed), _MAX_TEXT_CHARS)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _truncate(footer, _MAX_TEXT_CHARS)}]}
    )
    return {"text": headline, "blocks": blocks}


def _line(alert: Alert) -> str:
    # A rule may put a short account of the figures in its context's "summary" (the price move's).
    summary = alert.context.get("summary")
    return _escape(alert.title + (f": {summary}" if summary else ""))


def _by_severity(alerts: Sequence[Alert]) -> str:
    counts = Counter(a.severity for a in alerts)
    return " (" + ", ".join(f"{counts[s]} {s}" for s in ("critical", "warning", "info") if counts[s]) + ")"


def _label(kind: str) -> str:
    return _escape(kind.replace("_", " "))


def announce(
    conn: psycopg.Connection,
    kind: str,
    webhook_url: str,
    log: logging.Logger,
    *,
    timeout_s: float,
    daily_cap: int,
    digest_interval_s: int,
) -> tuple[int, int]:
    """Post what is pending for `kind`; returns (messages posted, failed posts). A failed post leaves its
    alerts pending for the next evaluation."""
    # Outside the sync transaction: a slow webhook must not hold the alert rows locked.
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(PENDING_SQL, {"kind": kind, "retry_hours": RESOLUTION_RETRY_HOURS}).fetchall()
        state = cur.execute(STATE_SQL, {"kind": kind}).fetchone()
    assert state is not None  # an aggregate always answers one row
    if state["summary_pending"] and not any(row["cleared_at"] is None for row in rows):
        # Everything the first run opened cleared (or was announced) before a webhook could be told.
        with conn.transaction():
            conn.execute(SUMMARY_SENT_SQL, (kind,))
        state["summary_pending"] = False
    plan = plan_messages(
        [Pending(row["alert_id"], row["severity"], row["cleared_at"] is not None) for row in rows],
        summary_due=state["summary_pending"],
        digest_due=digest_due(state["last_digest_at"], state["now"], digest_interval_s),
        sent_today=state["sent_today"],
        daily_cap=daily_cap,
        cap_notice_sent=state["cap_notice_sent"],
        max_posts=MAX_POSTS_PER_EVALUATION,
    )
    if plan.held:
        log.warning(
            "daily cap of %s %s message(s) reached: %s alert(s) held back until 00:00 UTC",
            daily_cap,
            kind,
            len(plan.held),
        )
    by_id = {row["alert_id"]: row for row in rows}
    posted = failures = 0
    for message in plan.messages:
        payload = _payload(kind, message, [by_id[alert_id] for alert_id in message.alert_ids], daily_cap)
        try:
            post_to_webhook(webhook_url, payload, timeout_s)
        except urllib.error.HTTPError as exc:
            # The webhook answered: this message was refused, the next one may not be (unless rate-limited).
            failures += 1
            log.warning(
                "alert webhook refused a %s %s message: HTTP %s %s", kind, message.kind, exc.code, exc.reason
            )
            if exc.code == 429:
                break
            continue
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # Unreachable or timing out: every further post would wait as long, so stop until next time.
            failures += 1
            log.warning(
                "alert webhook unreachable, %s message(s) deferred: %s", len(plan.messages) - posted, exc
            )
            break
        with conn.transaction():
            conn.execute(RECORD_SQL, (kind, message.kind, list(message.alert_ids)))
            if message.kind != "cap_reached":
                conn.execute(MARK_NOTIFIED_SQL, (list(message.alert_ids),))
            if message.kind == "summary":
                conn.execute(SUMMARY_SENT_SQL, (kind,))
        posted += 1
    return posted, failures


def _payload(
    kind: str, message: Message, rows: Sequence[Mapping[str, Any]], daily_cap: int
) -> dict[str, Any]:
    if message.kind == "cap_reached":
        return cap_payload(kind, daily_cap, len(rows))
    if message.kind == "summary":
        return summary_payload(kind, [alert_from_row(row) for row in rows])
    if message.kind == "digest":
        opened = [alert_from_row(row) for row in rows if row["cleared_at"] is None]
        resolved = [alert_from_row(row) for row in rows if row["cleared_at"] is not None]
        return digest_payload(kind, opened, resolved)
    [row] = rows
    return slack_payload(alert_from_row(row), resolved=message.kind == "resolved", opened_at=row["opened_at"])


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
