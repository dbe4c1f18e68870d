"""The data-quality framework: what a check is (`QualityCheck`: one great-expectations Expectation, with the
asset it guards and its severity), what a suite is validated against (`Dataset`), what guards and blocks
(`Severity`, `blocking`), the thresholds checks depend on, and what a check found (`CheckOutcome`).

Every check is an Expectation of GX Core run by GX's SQL execution engine against PostgreSQL
(`quality/engine.py`), so aggregates are computed in the database and only counts and a sample come
back. Checks use GX's built-in Expectations (values in set, between, column max, table row count, compound
uniqueness); a rule no built-in can state uses `UnexpectedRowsExpectation` and says why in `why_sql`.

Nothing here imports great-expectations (7–10 s per process): the check modules build their Expectations
through `gxe`, which imports GX the first time an Expectation is built, so defining, listing and
registering checks (the Dagster definitions, the pricing run) stays cheap. The checks themselves live in
`checks/`, one module per guarded table.
"""

from __future__ import annotations

import importlib
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Final
from uuid import UUID

from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.core.settings import SettingsSection

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

SAMPLE_ROWS: Final = 10  # unexpected rows shown per check
_MAX_CELL: Final = 80
_MAX_LIST_SHOWN: Final = 6
# Assets whose ERROR checks gate what is built from them.
BLOCKING_ASSETS: Final = frozenset({tables.PRICING_RECOMMENDATIONS})
UNEXPECTED_ROWS: Final = "UnexpectedRowsExpectation"


class Severity(StrEnum):
    ERROR = "ERROR"
    WARN = "WARN"


# GX's own failure severity, shown in Data Docs.
GX_SEVERITY: Final = {Severity.ERROR: "critical", Severity.WARN: "warning"}


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


class _Lazy:
    """A module imported on first attribute access: `gxe.ExpectColumnValuesToBeInSet(...)` reads like the
    import it stands for, and costs nothing until a check's Expectation is built."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)


gxe: Any = _Lazy("great_expectations.expectations")  # the Expectation classes
gxc: Any = _Lazy("great_expectations.expectations.row_conditions")  # `gxc.Column("topic") == ...`


@dataclass(frozen=True)
class Scope:
    """What one validation run looks at: the database clock when it started (time-relative bounds are
    taken from it, as the rows' own timestamps are) and the pricing cycle to check (None: the newest)."""

    now: datetime
    cycle_id: UUID | None = None


@dataclass(frozen=True)
class Dataset:
    """What a suite is validated against: a table, or a query (a GX query asset) for a slice of one.
    One suite per dataset, named after it."""

    name: str
    table: str | None = None
    query: Callable[[Scope], str] | None = None  # SQL text of the slice, for this scope
    # Columns naming an unexpected row (GX `unexpected_index_column_names`); the checked column is added.
    sample_columns: tuple[str, ...] = ()
    # At most a catalog's worth of rows (products × warehouses, × competitors): GX may return every
    # unexpected row (`COMPLETE`), which unexpected-rows Expectations need to return any. Larger datasets
    # get counts and a bounded sample (`SUMMARY`).
    bounded: bool = False

    def __post_init__(self) -> None:
        if (self.table is None) == (self.query is None):
            raise ValueError(f"dataset {self.name}: give a table or a query, not both or neither")


@dataclass(frozen=True)
class QualityCheck:
    name: str
    asset: str  # the guarded asset's key: a bare table name from core/tables.py
    dataset: Dataset  # what its Expectation is validated against
    severity: Severity
    description: str
    expectation: Callable[[Thresholds, Scope], Expectation]  # a GX Expectation, built on demand
    threshold: Callable[[Thresholds], str]  # the rule with its numbers, for people
    why_sql: str | None = None  # an UnexpectedRowsExpectation: why no built-in Expectation states the rule
    enforced_by: str | None = None  # the schema constraint that also guarantees it today, if any

    @property
    def blocking(self) -> bool:
        """A failure stops what is built from the asset: ERROR checks of the pricing engine's output."""
        return self.asset in BLOCKING_ASSETS and self.severity is Severity.ERROR

    def build(self, thresholds: Thresholds, scope: Scope) -> Expectation:
        """The Expectation for this run, carrying the check's name (GX keeps `meta` in its results), its
        description (`notes`, shown in Data Docs) and severity."""
        expectation = self.expectation(thresholds, scope)
        kind = type(expectation).__name__
        if (kind == UNEXPECTED_ROWS) != (self.why_sql is not None):
            raise ValueError(f"{self.name}: an {UNEXPECTED_ROWS} needs why_sql, a built-in must not have one")
        expectation.meta = {**(expectation.meta or {}), "check": self.name, "asset": self.asset}
        expectation.notes = self.description if self.why_sql is None else f"{self.description} {self.why_sql}"
        expectation.severity = GX_SEVERITY[self.severity]
        return expectation


def unexpected_rows_query(text: str, **parts: sql.Composable | str) -> str:
    """SQL for an UnexpectedRowsExpectation: `text` with `{name}` placeholders filled by quoted
    identifiers (a str: a table name from core/tables.py) or composed SQL (literals), keeping `{batch}`
    for GX to fill with the validated table. Braces the filling brings (array literals) are doubled, as
    GX substitutes `{batch}` with `str.format`."""
    marker = "\x00batch\x00"
    filled = sql.SQL(textwrap.dedent(text).strip()).format(
        batch=sql.SQL(marker),
        **{name: sql.Identifier(p) if isinstance(p, str) else p for name, p in parts.items()},
    )
    rendered = filled.as_string(None).replace("{", "{{").replace("}", "}}")
    return rendered.replace(marker, "{batch}")


def zero(what: str) -> Callable[[Thresholds], str]:
    return lambda _: f"0 {what}"


def unique_names(checks: Iterable[QualityCheck]) -> tuple[QualityCheck, ...]:
    checks = tuple(checks)
    names = [c.name for c in checks]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate quality check names: {sorted(duplicates)}")
    datasets: dict[str, Dataset] = {}
    for check in checks:
        if datasets.setdefault(check.dataset.name, check.dataset) is not check.dataset:
            raise ValueError(f"two different datasets are named {check.dataset.name}")
    return checks


# ---- outcomes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckOutcome:
    """What one check's Expectation found, from GX's validation result."""

    check: QualityCheck
    passed: bool
    threshold: str
    expectation: str  # the GX Expectation type, e.g. ExpectColumnValuesToBeInSet
    kwargs: Mapping[str, Any]  # its arguments as run, JSON-ready (long lists shortened)
    observed_value: Any = None  # GX's observed value (aggregate and unexpected-rows Expectations)
    unexpected_count: int | None = None  # rows breaking the rule (row-level Expectations)
    element_count: int | None = None  # rows the rule was applied to
    sample: tuple[Mapping[str, Any], ...] = ()  # at most SAMPLE_ROWS unexpected rows
    duration_s: float = 0.0  # of the suite validation the check ran in
    data_docs: str | None = None  # URL of the Data Docs page of that validation
    cycle_id: UUID | None = None  # pricing cycle checked (recommendation checks)
    error: str | None = None  # the Expectation could not be evaluated: the check counts as failed

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
    def count(self) -> int | None:
        """The number to show beside the status: unexpected rows, or the rows a row-count Expectation
        observed; None for other aggregates (a column's max)."""
        if self.unexpected_count is not None:
            return self.unexpected_count
        if isinstance(self.observed_value, int) and not isinstance(self.observed_value, bool):
            return self.observed_value
        return None

    @property
    def offending_rows(self) -> int:
        """Rows breaking the rule, for the metrics: unexpected rows; for an aggregate check, the rows a
        failing row-count Expectation counted (1 when it counted none, or for a column's max)."""
        if self.unexpected_count is not None:
            return self.unexpected_count
        return 0 if self.passed else (self.count or 1)

    @property
    def summary(self) -> str:
        if self.error is not None:
            return f"could not be evaluated: {self.error}"
        if self.unexpected_count is not None:
            found = f"{self.unexpected_count:,} unexpected row(s)"
            if self.element_count is not None:
                found += f" of {self.element_count:,}"
        elif self.observed_value is None:
            found = "no rows to measure"  # e.g. the max of a column over no rows
        else:
            found = f"observed {format_value(self.observed_value)}"
        return f"{found}; expected {self.threshold}"

    def sample_columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for row in self.sample for name in row))

    def sample_markdown(self) -> str:
        if self.error is not None:
            return f"could not be evaluated: `{_cell(self.error)}`"
        if not self.sample:
            if self.unexpected_count is None and self.expectation != UNEXPECTED_ROWS:
                observed = "no rows to measure" if self.observed_value is None else _cell(self.observed_value)
                return f"observed value: {observed}"
            return "no unexpected rows"
        columns = self.sample_columns()
        lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
        lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in self.sample]
        total = self.count
        if total is not None and total > len(self.sample):
            lines.append(f"\n{len(self.sample)} of {total:,} unexpected rows shown")
        return "\n".join(lines)


def format_value(value: Any) -> str:
    """A cell of a sample, for a person: timestamps to the second, no trailing noise, NULL spelt out."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date | Decimal | timedelta | UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    text = str(value)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def _cell(value: Any) -> str:
    return format_value(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def display_value(value: Any) -> Any:
    """A value of an Expectation's arguments or result, JSON-ready and short."""
    if isinstance(value, datetime | date | Decimal | UUID):
        return str(value)
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g} s"
    if isinstance(value, Mapping):
        return {str(k): display_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        shown = [display_value(v) for v in items[:_MAX_LIST_SHOWN]]
        if len(items) > _MAX_LIST_SHOWN:
            shown.append(f"… {len(items)} values in all")
        return shown
    return value


@dataclass(frozen=True)
class Validation:
    """The outcome of one run of checks: every check's outcome, in the order asked for, and the Data Docs
    index when a report was written."""

    outcomes: list[CheckOutcome]
    data_docs_index: str | None = None
    checked_at: datetime | None = None
    warnings: Sequence[str] = field(default_factory=tuple)  # e.g. the report could not be written

    def by_name(self) -> dict[str, CheckOutcome]:
        return {o.name: o for o in self.outcomes}
