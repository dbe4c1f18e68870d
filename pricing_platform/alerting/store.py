"""Alerts stored deduplicated in `alerts`: a condition has one open row (the partial unique index on
`condition_key`) from the first evaluation that sees it until it clears: after `clear_after` consecutive
evaluations that no longer see it (hysteresis, counted in `missed_evaluations`); the evaluations in
between only refresh it. Announcing them is a separate step (`webhook.py`): a webhook that is down never
loses an alert, a later evaluation announces every open row whose `notified_at` is still NULL.

A kind's first evaluation (no `alert_evaluations` row yet) opens every condition that already holds and
flags the kind for one summary message instead of a message each."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pricing_platform.alerting.decisions import clears_now
from pricing_platform.core import tables

Severity = Literal["info", "warning", "critical"]
SEVERITIES: Final[tuple[str, ...]] = get_args(Severity)
_SEVERITY_RANK: Final = {"critical": 0, "warning": 1, "info": 2}


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


# Whether an open alert is news again: given the context it was last announced with and the alert as it
# holds now (the price-move rule: the price moved the minimum further).
Renotify = Callable[[Mapping[str, Any], Alert], bool]


@dataclass(frozen=True)
class SyncResult:
    opened: list[Alert]
    cleared: list[Alert]
    still_open: list[Alert]
    # Open, but not seen this evaluation: they clear after enough consecutive misses (hysteresis).
    clearing: list[Alert] = field(default_factory=list)
    first_run: bool = False
    notified: int = 0
    notify_failures: int = 0

    @property
    def open(self) -> list[Alert]:
        return [*self.opened, *self.still_open, *self.clearing]

    def summary(self, what: str, max_listed: int = 5) -> str:
        """A few lines for the sensor's tick: counts by severity, then the most severe open alerts."""
        open_alerts = sorted(self.open, key=lambda a: (_SEVERITY_RANK[a.severity], a.condition_key))
        counts = Counter(a.severity for a in open_alerts)
        by_severity = ", ".join(f"{counts[s]} {s}" for s in sorted(counts, key=_SEVERITY_RANK.__getitem__))
        head = f"{len(open_alerts)} open {what} alert(s)" + (f" ({by_severity})" if by_severity else "")
        head += f"; opened {len(self.opened)}, cleared {len(self.cleared)} this evaluation"
        if self.clearing:
            head += f"; {len(self.clearing)} no longer seen, clearing"
        if self.first_run and self.opened:
            head += "; first run: one summary for all"
        if self.notify_failures:
            head += f"; {self.notify_failures} webhook post(s) failed, retried next evaluation"
        lines = [head, *(f"- [{a.severity}] {a.title}" for a in open_alerts[:max_listed])]
        if len(open_alerts) > max_listed:
            lines.append(f"- … and {len(open_alerts) - max_listed} more")
        return "\n".join(lines)


COLUMNS = sql.SQL(
    "alert_id, condition_key, kind, severity, title, context, opened_at, cleared_at, missed_evaluations, "
    "notified_at, notified_context"
)

# Counts the kind's evaluations; its row lock also keeps overlapping evaluations of one kind apart.
# evaluations = 1: this is the kind's first run.
EVALUATED_SQL = sql.SQL(
    """
    INSERT INTO {evaluations} AS e (kind) VALUES (%s)
    ON CONFLICT (kind) DO UPDATE SET evaluations = e.evaluations + 1, last_evaluated_at = now()
    RETURNING evaluations
    """
).format(evaluations=sql.Identifier(tables.ALERT_EVALUATIONS))

SUMMARY_PENDING_SQL = sql.SQL("UPDATE {} SET summary_pending = true WHERE kind = %s").format(
    sql.Identifier(tables.ALERT_EVALUATIONS)
)

# Locks this kind's open rows, so that an overlapping evaluation cannot refresh or clear them meanwhile
# (two inserting the same new condition are kept apart by the unique index: ON CONFLICT below).
OPEN_SQL = sql.SQL("SELECT {columns} FROM {alerts} WHERE kind = %s AND cleared_at IS NULL FOR UPDATE").format(
    columns=COLUMNS, alerts=sql.Identifier(tables.ALERTS)
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

# Seen again: the miss count starts over. A changed severity is news (low stock became a stock-out), and so
# is what the kind's renotify rule says is: forget the announcement so it is posted again.
REFRESH_SQL = sql.SQL(
    """
    UPDATE {alerts} a
    SET last_seen_at = now(), severity = u.severity, title = u.title, context = u.context::jsonb,
        missed_evaluations = 0,
        notified_at = CASE WHEN a.severity = u.severity AND NOT u.renotify THEN a.notified_at END
    FROM unnest(%(alert_id)s::bigint[], %(severity)s::text[], %(title)s::text[], %(context)s::text[],
                %(renotify)s::boolean[])
        AS u(alert_id, severity, title, context, renotify)
    WHERE a.alert_id = u.alert_id
    """
).format(alerts=sql.Identifier(tables.ALERTS))

MISSED_SQL = sql.SQL(
    "UPDATE {alerts} SET missed_evaluations = missed_evaluations + 1 WHERE alert_id = ANY(%s)"
).format(alerts=sql.Identifier(tables.ALERTS))

CLEAR_SQL = sql.SQL(
    "UPDATE {alerts} SET cleared_at = now() WHERE alert_id = ANY(%s) RETURNING {columns}"
).format(alerts=sql.Identifier(tables.ALERTS), columns=COLUMNS)


def sync_alerts(
    conn: psycopg.Connection,
    kind: str,
    current: Sequence[Alert],
    log: logging.Logger,
    *,
    holding: Sequence[Alert] = (),
    undetermined: Collection[str] = (),
    clear_after: int = 1,
    renotify: Renotify | None = None,
) -> SyncResult:
    """Make the open alerts of `kind` follow `current`, the conditions that hold now.

    Conditions in `current` without an open row are opened, those with one are refreshed (`last_seen_at`,
    context, title, severity, and the miss count back to 0). `holding` are conditions that keep an alert
    open without opening one (the undercut between its clear and open thresholds): refreshed if open,
    ignored otherwise. Open rows of `kind` in neither are missed, and cleared once `clear_after`
    consecutive evaluations have missed them; those in `undetermined` (the caller could not evaluate them
    this time) stay exactly as they are. Later entries of `current` win over earlier ones (and over
    `holding`) with the same condition key. `renotify` says which refreshed alerts are news again.
    """
    wanted: dict[str, Alert] = {}
    for alert in [*holding, *current]:
        if alert.kind != kind:
            raise ValueError(f"alert {alert.condition_key!r} is of kind {alert.kind!r}, not {kind!r}")
    held = {a.condition_key: a for a in holding}
    for alert in current:
        wanted[alert.condition_key] = alert

    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        evaluated = cur.execute(EVALUATED_SQL, (kind,)).fetchone()
        first_run = evaluated is not None and evaluated["evaluations"] == 1
        open_rows = {row["condition_key"]: row for row in cur.execute(OPEN_SQL, (kind,)).fetchall()}
        seen = held | wanted
        new = [a for key, a in wanted.items() if key not in open_rows]
        refreshed = [(open_rows[key], a) for key, a in seen.items() if key in open_rows]
        kept = [
            alert_from_row(row) for key, row in open_rows.items() if key not in seen and key in undetermined
        ]
        missed = [row for key, row in open_rows.items() if key not in seen and key not in undetermined]
        gone = [row["alert_id"] for row in missed if clears_now(row["missed_evaluations"], clear_after)]
        clearing = [row for row in missed if row["alert_id"] not in gone]

        inserted: set[str] = set()
        if new:
            cur.execute(INSERT_SQL, {"kind": kind, **_columns(new)})
            inserted = {row["condition_key"] for row in cur.fetchall()}
        if first_run and inserted:
            cur.execute(SUMMARY_PENDING_SQL, (kind,))
        if refreshed:
            news = [
                renotify is not None
                and row["notified_at"] is not None
                and renotify(row["notified_context"] or {}, alert)
                for row, alert in refreshed
            ]
            ids = [row["alert_id"] for row, _ in refreshed]
            cur.execute(
                REFRESH_SQL, {"alert_id": ids, "renotify": news, **_columns([a for _, a in refreshed])}
            )
        if clearing:
            cur.execute(MISSED_SQL, ([row["alert_id"] for row in clearing],))
        cleared = [alert_from_row(row) for row in cur.execute(CLEAR_SQL, (gone,)).fetchall()] if gone else []

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
    for row in clearing:
        log.info(
            "alert %s not seen (%s of %s evaluations before it clears)",
            row["condition_key"],
            row["missed_evaluations"] + 1,
            clear_after,
        )
    for alert in cleared:
        log.info("alert cleared [%s] %s (%s)", alert.severity, alert.title, alert.condition_key)

    return SyncResult(
        opened=opened,
        cleared=cleared,
        still_open=[*(a for _, a in refreshed), *kept],
        clearing=[alert_from_row(row) for row in clearing],
        first_run=first_run,
    )


def _columns(alerts: Sequence[Alert]) -> dict[str, list[str]]:
    # As arrays for unnest(): one statement however many alerts change.
    return {
        "key": [a.condition_key for a in alerts],
        "severity": [a.severity for a in alerts],
        "title": [a.title for a in alerts],
        "context": [json.dumps(a.context, default=str) for a in alerts],
    }


def alert_from_row(row: Mapping[str, Any]) -> Alert:
    return Alert(
        condition_key=row["condition_key"],
        kind=row["kind"],
        severity=row["severity"],
        title=row["title"],
        context=dict(row["context"] or {}),
    )
