"""The checked-cycle watermark: every pricing cycle's recommendation checks are evaluated once, soon after
the engine appends the cycle, and the verdict is recorded in `pricing_cycle_checks`. Readers that must
not see a bad cycle (the dbt marts, through the `pricing_recommendations_checked` view) read only cycles
whose ERROR checks passed, so blocking holds whatever evaluated the checks and whenever it ran: a cycle
never checked, or checked and failed, is never read.

The newest checked cycle is also how far checking has got: the cycles still to check are those not checked
that were stamped after it, or up to `LATE_COMMIT_GRACE` before it. A cycle is stamped when its
transaction starts, so an event-driven cycle (the repricer's) can commit after a scheduled cycle that
started later and was checked first; the grace lets it be checked and applied all the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

import psycopg
from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.quality import engine
from pricing_platform.quality.checks import checks_for
from pricing_platform.quality.framework import CheckOutcome, QualityCheck, Severity, Thresholds, Validation

RECOMMENDATION_CHECKS: Final[tuple[QualityCheck, ...]] = checks_for(tables.PRICING_RECOMMENDATIONS)
# Far longer than a cycle's transaction (seconds, for a scheduled run and a repricer's round alike), short
# enough that an outage's backlog is not checked long after the fact.
LATE_COMMIT_GRACE: Final = timedelta(minutes=10)

_UNCHECKED = sql.SQL(
    """
    SELECT cycle_id, min(created_at) AS created_at
    FROM {recs} r
    WHERE created_at > coalesce((SELECT max(cycle_created_at) FROM {checked}), '-infinity') - %(grace)s
      AND NOT EXISTS (SELECT FROM {checked} c WHERE c.cycle_id = r.cycle_id)
    GROUP BY cycle_id
    ORDER BY 2 DESC
    LIMIT %(limit)s
    """
).format(
    recs=sql.Identifier(tables.PRICING_RECOMMENDATIONS), checked=sql.Identifier(tables.PRICING_CYCLE_CHECKS)
)

_NEWEST = sql.SQL(
    "SELECT cycle_id, created_at FROM {recs} ORDER BY created_at DESC, recommendation_id DESC LIMIT 1"
).format(recs=sql.Identifier(tables.PRICING_RECOMMENDATIONS))

_RECORD = sql.SQL(
    """
    INSERT INTO {checked} (cycle_id, cycle_created_at, passed, failed_checks)
    VALUES (%s, %s, %s, %s)
    ON CONFLICT (cycle_id) DO UPDATE
    SET checked_at = now(), passed = EXCLUDED.passed, failed_checks = EXCLUDED.failed_checks
    """
).format(checked=sql.Identifier(tables.PRICING_CYCLE_CHECKS))


@dataclass(frozen=True)
class Cycle:
    cycle_id: UUID
    created_at: datetime


@dataclass(frozen=True)
class CycleVerdict:
    cycle: Cycle
    validation: Validation

    @property
    def outcomes(self) -> list[CheckOutcome]:
        return self.validation.outcomes

    @property
    def failed(self) -> list[str]:
        return [o.name for o in self.outcomes if not o.passed]

    @property
    def passed(self) -> bool:
        """Readers may use the cycle: every blocking (ERROR) check passed."""
        return all(o.passed for o in self.outcomes if o.severity is Severity.ERROR)


def unchecked_cycles(conn: psycopg.Connection, limit: int) -> list[Cycle]:
    """The newest `limit` cycles still to check (module docstring), oldest first."""
    rows = conn.execute(_UNCHECKED, {"grace": LATE_COMMIT_GRACE, "limit": limit}).fetchall()
    return [Cycle(cycle_id, created_at) for cycle_id, created_at in reversed(rows)]


def newest_cycle(conn: psycopg.Connection) -> Cycle | None:
    row = conn.execute(_NEWEST).fetchone()
    return Cycle(row[0], row[1]) if row else None


def check_cycle(
    conninfo: str,
    thresholds: Thresholds,
    cycle: Cycle,
    *,
    docs: engine.DocsSite | None = None,
    application_name: str = "pricing-quality",
) -> CycleVerdict:
    """Evaluate the recommendation checks on `cycle` and record the verdict (re-checking a cycle replaces
    its verdict)."""
    validation = engine.validate(
        conninfo,
        thresholds,
        RECOMMENDATION_CHECKS,
        cycle_id=cycle.cycle_id,
        docs=docs,
        application_name=application_name,
    )
    verdict = CycleVerdict(cycle, validation)
    with psycopg.connect(conninfo, connect_timeout=10, application_name=application_name) as conn:
        conn.execute(_RECORD, (cycle.cycle_id, cycle.created_at, verdict.passed, verdict.failed))
    return verdict
