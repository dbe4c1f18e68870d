"""The CI stage of `make test`: every Dagster asset check of the platform, run by Dagster, against a shop
built with the simulator.

Starts its own PostgreSQL (free loopback port), builds the test shop in it (six hours of simulated events
landed through the ingest sinks with the workers' offsets, a checked pricing cycle, the dbt models and the
analytics), then loads `pricing_platform.definitions` against that database and executes one asset job
selecting every asset check (the great-expectations checks of the raw tables and of the newest pricing
cycle, and the dbt tests), on the in-process executor. Prints the results table and exits 1 when an
ERROR check failed or a check produced no result (dbt skips the tests downstream of a failed one); WARN
failures are shown and do not fail the stage.

    python -m tests.support.asset_check_stage                     # the stage
    python -m tests.support.asset_check_stage --database-url URL  # the checks of an existing database

The definitions read the settings once, when imported, so this runs as a process of its own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "asset-checks"
JOB = "ci_asset_checks"


@contextmanager
def shop_database() -> Iterator[str]:
    """A throwaway PostgreSQL holding a freshly built shop."""
    from tests.support.servers import migrated_postgres
    from tests.support.shop import build_shop_at

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with migrated_postgres("pricing-ci-checks-", ARTIFACTS / "postgres.log", "shop") as server:
        yield build_shop_at(server.conninfo("shop"))


def run_checks(database_url: str, console: Console) -> int:
    """Execute every asset check of the definitions against `database_url`; print them; the exit code."""
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "QUALITY_DOCS_DIR": str(ARTIFACTS / "data-docs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    os.environ.pop("PUSHGATEWAY_URL", None)
    import dagster as dg

    from pricing_platform.assets.dbt import pricing_dbt_models
    from pricing_platform.definitions import defs

    job = dg.define_asset_job(
        JOB, selection=dg.AssetSelection.all_asset_checks(), executor_def=dg.in_process_executor
    )
    checks = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    expected = checks.resolve_asset_graph().asset_check_keys
    with dg.DagsterInstance.ephemeral() as instance:
        # The daily rebuild's configuration: the five-minute build leaves the staging tests out.
        full = {"ops": {pricing_dbt_models.op.name: {"config": {"full_refresh": True}}}}
        result = checks.resolve_job_def(JOB).execute_in_process(
            run_config=full, instance=instance, raise_on_error=False
        )
    evaluations = {e.asset_check_key: e for e in result.get_asset_check_evaluations()}

    table = Table(title=f"asset checks ({len(expected)}) against the test shop", title_justify="left")
    for column in ("status", "severity", "asset", "check", "result"):
        table.add_column(column, overflow="fold", no_wrap=column in ("status", "severity"))
    failed, missing = [], []
    for key in sorted(expected, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        evaluation = evaluations.get(key)
        if evaluation is None:
            missing.append(key)
            table.add_row("[bold red]NO RESULT[/]", "—", key.asset_key.to_user_string(), key.name, "not run")
            continue
        error = evaluation.severity == dg.AssetCheckSeverity.ERROR
        if evaluation.passed:
            status = "[green]PASS[/]"
        else:
            status = "[bold red]FAIL[/]" if error else "[bold yellow]FAIL[/]"
            if error:
                failed.append(key)
        table.add_row(
            status,
            evaluation.severity.value,
            key.asset_key.to_user_string(),
            key.name,
            escape(evaluation.description or ""),
        )
    console.print(table)
    passed = sum(e.passed for e in evaluations.values())
    console.print(f"{passed} of {len(expected)} asset checks passed; Data Docs: {ARTIFACTS / 'data-docs'}")
    if failed:
        names = ", ".join(k.to_user_string() for k in failed)
        console.print(f"[bold red]{len(failed)} ERROR check(s) failed:[/] {names}")
    if missing:
        # dbt build does not run the tests of models downstream of a failed test.
        names = ", ".join(k.to_user_string() for k in missing)
        console.print(f"[bold red]{len(missing)} check(s) produced no result:[/] {names}")
    return 1 if failed or missing else 0


def main(
    database_url: str = typer.Option(None, help="check this database instead of building a shop"),
) -> None:
    console = Console(width=None if sys.stdout.isatty() else 160)
    if database_url:
        raise typer.Exit(run_checks(database_url, console))
    with shop_database() as conninfo:
        console.print(f"shop built in {conninfo}")
        code = run_checks(conninfo, console)
    raise typer.Exit(code)


if __name__ == "__main__":
    typer.run(main)
