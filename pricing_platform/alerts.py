"""Alerts raised by the sensors: stored deduplicated in `alerts`, announced to a Slack-compatible webhook.

A condition has one open row (the partial unique index on `condition_key`) from the first evaluation that
sees it until the first one that no longer does; the evaluations in between only refresh it. Storing and
announcing are separate steps: a webhook that is down never loses an alert, a later evaluation announces
every open row whose `notified_at` is still NULL.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, get_args

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pricing_platform.db import tables

Severity = Literal["info", "warning", "critical"]
SEVERITIES: Final[tuple[str, ...]] = get_args(Severity)
_SEVERITY_RANK: Final = {"critical": 0, "warning": 1, "info": 2}
_SEVERITY_ICON: Final = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":information_source:",
}
_RESOLVED_ICON: Final = ":white_check_mark:"

WEBHOOK_TIMEOUT_S: Final = 5.0
# Slack takes about one message per second per webhook, and a sensor evaluation must end within its
# timeout: the rest of a large batch goes out on the following evaluations.
MAX_POSTS_PER_EVALUATION: Final = 20
# A "resolved" whose post failed is retried this long; announcing it days later would only be noise.
RESOLUTION_RETRY_HOURS: Final = 24
# Slack's block limits: 10 fields per section, 2,000 characters per field, 3,000 per section text.
_MAX_FIELDS: Final = 10
_MAX_FIELD_CHARS: Final = 2000
_MAX_TEXT_CHARS: Final = 3000


@dataclass(frozen=True)
class Alert:
    """One condition that currently holds. `condition_key` identifies the condition across evaluations and
    kinds (by convention `<kind>:<subject>`); `context` must be JSON-serialisable (other values are stored
    as their str())."""

    condition_key: str
    kind: str
    severity: Severity
    title: str
    context: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")


@dataclass(frozen=True)
class SyncResult:
    opened: list[Alert]
    cleared: list[Alert]
    still_open: list[Alert]
    notified: int = 0
    notify_failures: int = 0

    @property
    def open(self) -> list[Alert]:
        return [*self.opened, *self.still_open]

    def summary(self, what: str, max_listed: int = 5) -> str:
        """A few lines for the sensor's tick: counts by severity, then the most severe open alerts."""
        open_alerts = sorted(self.open, key=lambda a: (_SEVERITY_RANK[a.severity], a.condition_key))
        counts = Counter(a.severity for a in open_alerts)
        by_severity = ", ".join(f"{counts[s]} {s}" for s in sorted(counts, key=_SEVERITY_RANK.__getitem__))
        head = f"{len(open_alerts)} open {what} alert(s)" + (f" ({by_severity})" if by_severity else "")
        head += f"; opened {len(self.opened)}, cleared {len(self.cleared)} this evaluation"
        if self.notify_failures:
            head += f"; {self.notify_failures} webhook post(s) failed, retried next evaluation"
        lines = [head, *(f"- [{a.severity}] {a.title}" for a in open_alerts[:max_listed])]
        if len(open_alerts) > max_listed:
            lines.append(f"- … and {len(open_alerts) - max_listed} more")
        return "\n".join(lines)


_COLUMNS = sql.SQL("alert_id, condition_key, kind, severity, title, context, opened_at, cleared_at")

# Locks this kind's open rows, so that an overlapping evaluation cannot refresh or clear them meanwhile
# (two inserting the same new condition are kept apart by the unique index: ON CONFLICT below).
OPEN_SQL = sql.SQL("SELECT {columns} FROM {alerts} WHERE kind = %s AND cleared_at IS NULL FOR UPDATE").format(
    columns=_COLUMNS, alerts=sql.Identifier(tables.ALERTS)
)

# ON CONFLICT: a key open already (inserted by an overlapping evaluation, or open under another kind) is
# not opened twice.
INSERT_SQL = sql.SQL(
    """
    INSERT INTO {alerts} (condition_key, kind, severity, title, context)
    SELECT key, %(kind)s, severity, title, context::jsonb
    FROM unnest(%(key)s::text[], %(severity)s::text[], %(title)s::text[], %(context)s::text[])
        AS u(key, severity, title, context)
    ON CONFLICT (condition_key) WHERE cleared_at IS NULL DO NOTHING
    RETURNING condition_key
    """
).format(alerts=sql.Identifier(tables.ALERTS))

# A changed severity is news (low stock became a stock-out): forget the announcement so it is posted again.
REFRESH_SQL = sql.SQL(
    """
    UPDATE {alerts} a
    SET last_seen_at = now(), severity = u.severity, title = u.title, context = u.context::jsonb,
        notified_at = CASE WHEN a.severity = u.severity THEN a.notified_at END
    FROM unnest(%(alert_id)s::bigint[], %(severity)s::text[], %(title)s::text[], %(context)s::text[])
        AS u(alert_id, severity, title, context)
    WHERE a.alert_id = u.alert_id
    """
).format(alerts=sql.Identifier(tables.ALERTS))

CLEAR_SQL = sql.SQL(
    "UPDATE {alerts} SET cleared_at = now() WHERE alert_id = ANY(%s) RETURNING {columns}"
).format(alerts=sql.Identifier(tables.ALERTS), columns=_COLUMNS)

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
).format(columns=_COLUMNS, alerts=sql.Identifier(tables.ALERTS))

MARK_NOTIFIED_SQL = sql.SQL("UPDATE {} SET notified_at = now() WHERE alert_id = %s").format(
    sql.Identifier(tables.ALERTS)
)


def sync_alerts(
    conn: psycopg.Connection,
    kind: str,
    current: Sequence[Alert],
    webhook_url: str | None,
    log: logging.Logger,
    *,
    undetermined: Collection[str] = (),
    timeout_s: float = WEBHOOK_TIMEOUT_S,
) -> SyncResult:
    """Make the open alerts of `kind` exactly `current`, then announce what is new to the webhook.

    Conditions in `current` without an open row are opened, those with one are refreshed (`last_seen_at`,
    context, title, severity), and open rows of `kind` missing from `current` are cleared, except those
    in `undetermined`: conditions the caller could not evaluate this time stay as they are. Later entries
    of `current` win over earlier ones with the same condition key. A failed post is logged, never raised.
    """
    wanted: dict[str, Alert] = {}
    for alert in current:
        if alert.kind != kind:
            raise ValueError(f"alert {alert.condition_key!r} is of kind {alert.kind!r}, not {kind!r}")
        wanted[alert.condition_key] = alert

    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        open_rows = {row["condition_key"]: row for row in cur.execute(OPEN_SQL, (kind,)).fetchall()}
        new = [a for key, a in wanted.items() if key not in open_rows]
        refreshed = [(open_rows[key], a) for key, a in wanted.items() if key in open_rows]
        kept = [
            _alert_from_row(row)
            for key, row in open_rows.items()
            if key not in wanted and key in undetermined
        ]
        gone = [
            row["alert_id"] for key, row in open_rows.items() if key not in wanted and key not in undetermined
        ]

        inserted: set[str] = set()
        if new:
            cur.execute(INSERT_SQL, {"kind": kind, **_columns(new)})
            inserted = {row["condition_key"] for row in cur.fetchall()}
        if refreshed:
            ids = [row["alert_id"] for row, _ in refreshed]
            cur.execute(REFRESH_SQL, {"alert_id": ids, **_columns([a for _, a in refreshed])})
        cleared = [_alert_from_row(row) for row in cur.execute(CLEAR_SQL, (gone,)).fetchall()] if gone else []

    opened = [a for a in new if a.condition_key in inserted]
    for alert in opened:
        level = logging.INFO if alert.severity == "info" else logging.WARNING
        log.log(level, "alert opened [%s] %s (%s)", alert.severity, alert.title, alert.condition_key)
    for alert in new:
        if alert.condition_key not in inserted:
            log.warning(
                "alert %s not opened: already open (another evaluation, or another kind)", alert.condition_key
            )
    for row, alert in refreshed:
        if row["severity"] != alert.severity:
            log.warning(
                "alert %s severity %s -> %s: %s",
                alert.condition_key,
                row["severity"],
                alert.severity,
                alert.title,
            )
    for alert in cleared:
        log.info("alert cleared [%s] %s (%s)", alert.severity, alert.title, alert.condition_key)

    notified = failures = 0
    if webhook_url:
        notified, failures = _announce(conn, kind, webhook_url, log, timeout_s)
    return SyncResult(
        opened=opened,
        cleared=cleared,
        still_open=[*(a for _, a in refreshed), *kept],
        notified=notified,
        notify_failures=failures,
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


def post_to_webhook(url: str, payload: Mapping[str, Any], timeout_s: float = WEBHOOK_TIMEOUT_S) -> None:
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


def _announce(
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
        payload = slack_payload(_alert_from_row(row), resolved=resolved, opened_at=row["opened_at"])
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


def _columns(alerts: Sequence[Alert]) -> dict[str, list[str]]:
    # As arrays for unnest(): one statement however many alerts change.
    return {
        "key": [a.condition_key for a in alerts],
        "severity": [a.severity for a in alerts],
        "title": [a.title for a in alerts],
        "context": [json.dumps(a.context, default=str) for a in alerts],
    }


def _alert_from_row(row: Mapping[str, Any]) -> Alert:
    return Alert(
        condition_key=row["condition_key"],
        kind=row["kind"],
        severity=row["severity"],
        title=row["title"],
        context=dict(row["context"] or {}),
    )


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
