"""The data-quality framework: what a check is (`QualityCheck`), what guards and blocks (`Severity`,
`blocking`), the thresholds checks depend on, and how a check runs (`run_check` → `CheckOutcome`).

A check states the asset (table) it guards, its severity, what it asserts, and one parameterised query
returning the offending rows; it passes when the query returns at most `allowed` rows. Checks run inside
PostgreSQL where the data lives: one set-based statement, nothing pulled into Python but the count and a
sample. Each runs in its own transaction (a savepoint when the caller has one open) with a statement
timeout, so a failing or slow query is reported as that check's failure and the others still run.

The checks themselves live in `checks/`, one module per guarded table. No Dagster here: the
`pricing-platform quality` command runs checks without importing it; `assets/quality.py` wires them in.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Final

import psycopg
from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.core.settings import SettingsSection

SAMPLE_ROWS: Final = 10  # offending rows shown per check
_MAX_CELL: Final = 80
_MAX_LIST_SHOWN: Final = 6
# Assets whose ERROR checks gate what is built from them.
BLOCKING_ASSETS: Final = frozenset({tables.PRICING_RECOMMENDATIONS})


class Severity(StrEnum):
    ERROR = "ERROR"
    WARN = "WARN"


class Thresholds(SettingsSection):
    """Everything the checks' parameters depend on; defaults and descriptions in the settings."""

    settings_prefix = "quality_"
    settings_renamed: ClassVar[dict[str, str]] = {
        "max_future_skew_s": "ingest_max_future_skew_s",
        "group_prefix": "kafka_group_prefix",
    }

    freshness_max_age_s: int
    max_future_skew_s: int  # the ingest contract's own bound: stored rows are held to the rule ingest applies
    max_stock_per_slot: int
    max_price_difference_pct: float
    dead_letter_max_per_hour: int
    query_timeout_s: int
    group_prefix: str


Params = Callable[[Thresholds], Mapping[str, Any]]


def _no_params(_: Thresholds) -> Mapping[str, Any]:
    return {}


def _none_allowed(_: Thresholds) -> int:
    return 0


@dataclass(frozen=True)
class QualityCheck:
    name: str
    asset: str  # the guarded asset's key: a bare table name from core/tables.py
    severity: Severity
    description: str
    query: sql.Composed  # SELECT of the offending rows, named %(…)s parameters, most telling rows first
    threshold: Callable[[Thresholds], str]  # the rule with its numbers, for people
    params: Params = _no_params
    allowed: Callable[[Thresholds], int] = _none_allowed  # offending rows tolerated
    enforced_by: str | None = None  # the schema constraint that also guarantees it today, if any

    @property
    def blocking(self) -> bool:
        """A failure stops what is built from the asset: ERROR checks of the pricing engine's output."""
        return self.asset in BLOCKING_ASSETS and self.severity is Severity.ERROR

    def statement(self) -> sql.Composed:
        """The query as run: the offending count on every row, at most SAMPLE_ROWS rows."""
        return sql.SQL(
            "SELECT count(*) OVER () AS offending_count, offending.*\nFROM (\n{query}\n) AS offending\n"
            "LIMIT {limit}"
        ).format(query=self.query, limit=sql.Literal(SAMPLE_ROWS))


def query(text: str, **identifiers: str) -> sql.Composed:
    """SQL text with `{name}` placeholders filled by quoted identifiers (table names from core/tables.py)."""
    return sql.SQL(textwrap.dedent(text).strip()).format(
        **{name: sql.Identifier(value) for name, value in identifiers.items()}
    )


def zero(what: str) -> Callable[[Thresholds], str]:
    return lambda _: f"0 {what}"


def unique_names(checks: Iterable[QualityCheck]) -> tuple[QualityCheck, ...]:
    checks = tuple(checks)
    names = [c.name for c in checks]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate quality check names: {sorted(duplicates)}")
    return checks


# ---- running ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckOutcome:
    check: QualityCheck
    passed: bool
    offending_count: int
    allowed: int
    threshold: str
    columns: tuple[str, ...]
    sample: tuple[tuple[Any, ...], ...]  # at most SAMPLE_ROWS offending rows
    sql: str  # the statement as run, parameters as placeholders
    params: Mapping[str, Any]  # the parameters, JSON-ready (long lists shortened)
    duration_s: float
    error: str | None = None  # the query failed: the check counts as failed

    @property
    def name(self) -> str:
        return self.check.name

    @property
    def asset(self) -> str:
        return self.check.asset

    @property
    def severity(self) -> Severity:
        return self.check.severity

    @property
    def summary(self) -> str:
        if self.error is not None:
            return f"query failed: {self.error}"
        found = f"{self.offending_count} offending row(s)"
        if self.allowed:
            found += f" (at most {self.allowed} allowed)"
        return f"{found}; expected {self.threshold}"

    def sample_rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.sample]

    def sample_markdown(self) -> str:
        if self.error is not None:
            return f"query failed: `{_cell(self.error)}`"
        if not self.sample:
            return "no offending rows"
        lines = [
            "| " + " | ".join(self.columns) + " |",
            "| " + " | ".join("---" for _ in self.columns) + " |",
        ]
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in self.sample]
        if self.offending_count > len(self.sample):
            lines.append(f"\n{len(self.sample)} of {self.offending_count} offending rows shown")
        return "\n".join(lines)


def format_value(value: Any) -> str:
    """A cell of a sample, for a person: timestamps to the second, no trailing noise, NULL spelt out."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date | Decimal | timedelta):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    text = str(value)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def _cell(value: Any) -> str:
    return format_value(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _display_param(value: Any) -> Any:
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g} s"
    if isinstance(value, list | tuple):
        shown = [_display_param(v) for v in value[:_MAX_LIST_SHOWN]]
        if len(value) > _MAX_LIST_SHOWN:
            shown.append(f"… {len(value)} values in all")
        return shown
    if isinstance(value, Decimal):
        return str(value)
    return value


def run_check(conn: psycopg.Connection, check: QualityCheck, thresholds: Thresholds) -> CheckOutcome:
    params = dict(check.params(thresholds))
    statement = check.statement()
    allowed = check.allowed(thresholds)
    common = {
        "check": check,
        "allowed": allowed,
        "threshold": check.threshold(thresholds),
        "sql": statement.as_string(),
        "params": {name: _display_param(value) for name, value in params.items()},
    }
    started = time.perf_counter()
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "SELECT set_config('statement_timeout', %s, true)", (f"{thresholds.query_timeout_s}s",)
            )
            cur.execute(statement, params)
            rows = cur.fetchall()
            columns = tuple(column.name for column in cur.description or ())
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CheckOutcome(
            passed=False,
            offending_count=0,
            columns=(),
            sample=(),
            duration_s=time.perf_counter() - started,
            error=f"{type(exc).__name__}: {message}",
            **common,
        )
    offending = int(rows[0][0]) if rows else 0
    return CheckOutcome(
        passed=offending <= allowed,
        offending_count=offending,
        columns=columns[1:],
        sample=tuple(tuple(row[1:]) for row in rows),
        duration_s=time.perf_counter() - started,
        **common,
    )


def run_checks(
    conn: psycopg.Connection, thresholds: Thresholds, checks: Iterable[QualityCheck]
) -> list[CheckOutcome]:
    return [run_check(conn, check, thresholds) for check in checks]
