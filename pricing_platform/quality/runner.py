"""Runs registry checks on a psycopg connection, outside or inside Dagster: one statement per check, each in
its own transaction (a savepoint when the caller has one open) with a statement timeout, so a failing or
slow query is reported as that check's failure and the others still run."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import psycopg

from pricing_platform.quality.checks import CHECKS, QualityCheck, Severity, Thresholds
from pricing_platform.settings import Settings

_MAX_CELL: Final = 80
_MAX_LIST_SHOWN: Final = 6


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


def run_all_checks(
    conn: psycopg.Connection, settings: Settings, checks: Sequence[QualityCheck] = CHECKS
) -> list[CheckOutcome]:
    """Every registry check (or `checks`) against `conn`, thresholds from `settings`, in registry order."""
    return run_checks(conn, Thresholds.from_settings(settings), checks)
