"""Runs checks with great-expectations: one GX suite per dataset, validated against PostgreSQL by GX's SQL
execution engine (the SQLAlchemy engine on psycopg), so every count is an aggregate computed in the
database and only counts and a bounded sample come back. Optionally writes GX Data Docs.

Importing great-expectations costs 7–10 s per process; this module imports it only when `validate` first
runs, so loading the Dagster definitions or the pricing run never pays it. Each call builds a fresh
ephemeral GX context (milliseconds once GX is imported), so a long-lived process (the Dagster code server
evaluating the recommendation sensor every 20 s) keeps nothing between calls.

Data Docs: with `docs_dir`, validation results are stored as JSON under `docs_dir/results/` and the
static site is written to `docs_dir/` (open `index.html`). Every writer (the scheduled check job, the
recommendation sensor, `pricing-platform quality`) shares that store, so the site always lists the
latest `docs_runs_kept` validations of every suite; older results and their pages are removed.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

import psycopg

from pricing_platform.quality.checks import CHECKS, CHECKS_BY_NAME, datasets
from pricing_platform.quality.framework import (
    SAMPLE_ROWS,
    UNEXPECTED_ROWS,
    CheckOutcome,
    Dataset,
    QualityCheck,
    Scope,
    Thresholds,
    Validation,
    display_value,
)

if TYPE_CHECKING:
    from great_expectations.core import ExpectationValidationResult
    from great_expectations.data_context import AbstractDataContext

log = logging.getLogger(__name__)

DATASOURCE: Final = "pricing"
SITE: Final = "quality"
RESULTS_DIR: Final = "results"


@dataclass(frozen=True)
class DocsSite:
    """Where the Data Docs report goes, and how many validations of each suite it keeps."""

    directory: Path
    runs_kept: int

    @property
    def index(self) -> Path:
        return self.directory / "index.html"


def sqlalchemy_url(conninfo: str) -> str:
    """The SQLAlchemy URL of a PostgreSQL URL, on psycopg 3 (the driver the platform uses)."""
    scheme, sep, rest = conninfo.partition("://")
    if not sep or scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ValueError("DATABASE_URL must be a postgresql:// URL")
    return f"postgresql+psycopg://{rest}"


def database_now(conninfo: str, application_name: str) -> datetime:
    """The database's clock, which every time-relative bound of a run is taken from (the rows' own
    timestamps come from it). Raises psycopg.OperationalError when the database is unreachable."""
    with psycopg.connect(conninfo, connect_timeout=10, application_name=application_name) as conn:
        row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0]


def validate(
    conninfo: str,
    thresholds: Thresholds,
    checks: Sequence[QualityCheck] = CHECKS,
    *,
    cycle_id: UUID | None = None,
    docs: DocsSite | None = None,
    application_name: str = "pricing-quality",
) -> Validation:
    """Validate the suites of `checks`' datasets and return the outcome of each of `checks`, in order.
    `cycle_id` names the pricing cycle the recommendation checks look at (default: the newest)."""
    scope = Scope(now=database_now(conninfo, application_name), cycle_id=cycle_id)
    gx = _import_gx()
    context = _context(gx, docs)
    datasource = context.data_sources.add_postgres(
        DATASOURCE,
        connection_string=sqlalchemy_url(conninfo),
        kwargs={
            "connect_args": {
                "options": f"-c statement_timeout={thresholds.query_timeout_s * 1000}",
                "application_name": application_name,
                "connect_timeout": 10,
            }
        },
    )
    run_id = gx.RunIdentifier(run_time=scope.now)
    wanted = {c.dataset.name for c in checks}
    # Every suite is registered (Data Docs list the suites the context knows); the ones `checks` need run.
    suites = {d.name: _suite(gx, context, d, thresholds, scope) for d in datasets()}
    outcomes: dict[str, CheckOutcome] = {}
    try:
        for dataset in datasets():
            if dataset.name not in wanted:
                continue
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(
                    name=dataset.name,
                    data=_batch_definition(datasource, dataset, scope),
                    suite=suites[dataset.name],
                )
            )
            started = time.perf_counter()
            result = definition.run(result_format=_result_format(dataset), run_id=run_id)
            seconds = time.perf_counter() - started
            for expectation_result in result.results:
                check = CHECKS_BY_NAME[expectation_result.expectation_config.meta["check"]]
                outcomes[check.name] = outcome(check, expectation_result, thresholds, seconds, cycle_id)
    finally:
        # The datasource's engine and its execution engine each pool connections: close both, or a
        # long-lived process (the code server) would keep one open per run.
        if datasource.execution_engine is not None:
            datasource.execution_engine.close()
        datasource.get_engine().dispose()
    index, pages, warnings = _write_docs(context, docs, run_id, wanted) if docs else (None, {}, [])
    return Validation(
        outcomes=[_with_docs(outcomes[c.name], pages.get(c.dataset.name)) for c in checks],
        data_docs_index=index,
        checked_at=scope.now,
        warnings=warnings,
    )


def _import_gx() -> Any:
    import great_expectations as gx

    return gx


def _context(gx: Any, docs: DocsSite | None) -> AbstractDataContext:
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        # No tqdm bar per validation in logs and terminals, no usage statistics sent anywhere.
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False,
    )
    if docs is not None:
        docs.directory.mkdir(parents=True, exist_ok=True)
        config.stores["validation_results_store"] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str((docs.directory / RESULTS_DIR).resolve()),
            },
        }
        config.data_docs_sites = {
            SITE: {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs.directory.resolve()),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        }
    return gx.get_context(mode="ephemeral", project_config=config)


def _suite(
    gx: Any, context: AbstractDataContext, dataset: Dataset, thresholds: Thresholds, scope: Scope
) -> Any:
    suite = gx.ExpectationSuite(name=dataset.name)
    for check in CHECKS:
        if check.dataset.name == dataset.name:
            suite.add_expectation(check.build(thresholds, scope))
    return context.suites.add(suite)


def _batch_definition(datasource: Any, dataset: Dataset, scope: Scope) -> Any:
    if dataset.table is not None:
        asset = datasource.add_table_asset(dataset.name, table_name=dataset.table)
    else:
        assert dataset.query is not None
        asset = datasource.add_query_asset(dataset.name, query=dataset.query(scope))
    return asset.add_batch_definition_whole_table("whole")


def _result_format(dataset: Dataset) -> dict[str, Any]:
    return {
        # COMPLETE returns every unexpected row (and an unexpected-rows Expectation's rows at all): only
        # for datasets bounded by the catalog. SUMMARY: counts and a sample fetched with a LIMIT.
        "result_format": "COMPLETE" if dataset.bounded else "SUMMARY",
        "partial_unexpected_count": SAMPLE_ROWS,
        "unexpected_index_column_names": list(dataset.sample_columns),
        "return_unexpected_index_query": False,
    }


def outcome(
    check: QualityCheck,
    result: ExpectationValidationResult,
    thresholds: Thresholds,
    seconds: float,
    cycle_id: UUID | None,
) -> CheckOutcome:
    """A check's outcome from GX's validation result of its Expectation."""
    config = result.expectation_config
    kwargs = {k: v for k, v in config.to_json_dict().get("kwargs", {}).items() if k != "batch_id"}
    common: dict[str, Any] = {
        "check": check,
        "threshold": check.threshold(thresholds),
        "expectation": type(config.to_domain_obj()).__name__,
        "kwargs": display_value(kwargs),
        "duration_s": seconds,
        "cycle_id": cycle_id,
    }
    error = _error(result)
    if error is not None:
        return CheckOutcome(passed=False, error=error, **common)
    found: dict[str, Any] = dict(result.result or {})
    if common["expectation"] == UNEXPECTED_ROWS:
        rows = found.get("details", {}).get("unexpected_rows") or []
        return CheckOutcome(
            passed=bool(result.success),
            observed_value=found.get("observed_value"),
            unexpected_count=found.get("observed_value"),
            sample=tuple(dict(r) for r in rows[:SAMPLE_ROWS]),
            **common,
        )
    if "unexpected_count" in found or _row_level(config):
        return CheckOutcome(
            passed=bool(result.success),
            unexpected_count=found.get("unexpected_count", 0),
            element_count=found.get("element_count", 0),
            sample=_sample(found, kwargs),
            **common,
        )
    return CheckOutcome(passed=bool(result.success), observed_value=found.get("observed_value"), **common)


def _row_level(config: Any) -> bool:
    """A map Expectation, judging rows one by one (GX reports no counts when the batch is empty)."""
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    return isinstance(
        config.to_domain_obj(), ColumnMapExpectation | ColumnPairMapExpectation | MulticolumnMapExpectation
    )


def _sample(found: dict[str, Any], kwargs: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    indexed = found.get("partial_unexpected_index_list") or found.get("unexpected_index_list")
    if indexed:
        return tuple(dict(row) for row in indexed[:SAMPLE_ROWS])
    values = found.get("partial_unexpected_list") or []
    column = kwargs.get("column", "value")
    return tuple(v if isinstance(v, dict) else {column: v} for v in values[:SAMPLE_ROWS])


def _error(result: ExpectationValidationResult) -> str | None:
    """The first exception GX caught evaluating the Expectation (a query that failed, a missing column),
    as one line; None when it was evaluated."""
    info = result.exception_info or {}
    candidates: Iterable[dict[str, Any]] = (
        [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    )
    for candidate in candidates:
        if candidate.get("raised_exception"):
            message = str(candidate.get("exception_message") or "unknown error").strip()
            return message.splitlines()[0] if message else "unknown error"
    return None


def _with_docs(found: CheckOutcome, page: str | None) -> CheckOutcome:
    return found if page is None else replace(found, data_docs=page)


def _write_docs(
    context: AbstractDataContext, docs: DocsSite, run_id: Any, validated: set[str]
) -> tuple[str | None, dict[str, str], list[str]]:
    """Prune the shared results store to the newest `runs_kept` per suite, then render this run's pages,
    every suite's page and the index. A report that cannot be written is a warning, never a failed
    check run (another writer may be pruning at the same moment)."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    store = context.validation_results_store
    try:
        keys = list(store.list_keys())
        by_suite: dict[str, list[Any]] = defaultdict(list)
        for key in keys:
            by_suite[key.expectation_suite_identifier.name].append(key)
        for suite_keys in by_suite.values():
            suite_keys.sort(key=lambda k: str(k.run_id.run_time))
            for stale in suite_keys[: max(0, len(suite_keys) - docs.runs_kept)]:
                store.remove_key(stale)
        mine = [k for k in keys if k.run_id == run_id and k.expectation_suite_identifier.name in validated]
        suites = [ExpectationSuiteIdentifier(name=d.name) for d in datasets()]
        context.build_data_docs(site_names=[SITE], resource_identifiers=[*suites, *mine])
        pages = {}
        for key in mine:
            urls = context.get_docs_sites_urls(resource_identifier=key, site_name=SITE)
            if urls and urls[0].get("site_url"):
                pages[key.expectation_suite_identifier.name] = str(urls[0]["site_url"])
        return docs.index.resolve().as_uri(), pages, []
    except Exception as exc:
        log.warning("Data Docs not written to %s: %s", docs.directory, exc)
        return None, {}, [f"Data Docs not written to {docs.directory}: {type(exc).__name__}: {exc}"]
