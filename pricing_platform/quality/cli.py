"""`pricing-platform quality [--verbose] [--no-docs]`: every data-quality check against DATABASE_URL, outside
Dagster, through the same great-expectations suites as the asset checks (the recommendation checks look
at the newest pricing cycle).

Prints one row per check (status, severity, rows, check and asset) and, for failures, what GX observed and
a sample of the unexpected rows; `--verbose` adds every check's Expectation with its arguments, counts and
duration. Writes the GX Data Docs report to QUALITY_DOCS_DIR (unless `--no-docs`) and prints its path.
Returns the exit code: 0 when every check passes (WARN checks included), 1 otherwise or when the database
is unreachable.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from pricing_platform.core.settings import Settings
from pricing_platform.quality.checks import CHECKS
from pricing_platform.quality.framework import CheckOutcome, Severity, Thresholds, format_value


def outcomes_table(outcomes: list[CheckOutcome]) -> Table:
    """Status, severity and row count first and never wrapped, so they stay visible in an 80-column
    terminal; the check's name (with its asset below it, dimmed) takes the rest and wraps if it must."""
    table = Table(title="data-quality checks", title_justify="left")
    table.add_column("status", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("check · asset", overflow="fold", ratio=1)
    for o in outcomes:
        if o.error is not None:
            status = "[bold red]ERROR[/]"
        elif o.passed:
            status = "[green]PASS[/]"
        else:
            status = "[bold red]FAIL[/]" if o.severity is Severity.ERROR else "[bold yellow]FAIL[/]"
        rows = "—" if o.error is not None or o.count is None else f"{o.count:,}"
        severity = "[red]ERROR[/]" if o.severity is Severity.ERROR else "[yellow]WARN[/]"
        table.add_row(status, severity, rows, f"{escape(o.name)}\n[dim]{escape(o.asset)}[/]")
    return table


def sample_table(outcome: CheckOutcome) -> Table:
    columns = outcome.sample_columns()
    table = Table(*columns, show_edge=False, pad_edge=False)
    for row in outcome.sample:
        table.add_row(*(escape(format_value(row.get(c))) for c in columns))
    return table


def _details(outcome: CheckOutcome, verbose: bool) -> Panel:
    parts: list[object] = [escape(outcome.check.description), f"[bold]{escape(outcome.summary)}[/]"]
    if outcome.sample:
        total = outcome.count
        shown = f"{len(outcome.sample)} of {total:,} unexpected rows" if total else "unexpected rows"
        parts += [f"[dim]{shown}[/]", sample_table(outcome)]
    if verbose:
        arguments = json.dumps(dict(outcome.kwargs), ensure_ascii=False, default=str)
        parts.append(f"[dim]expectation[/] {escape(outcome.expectation)} {escape(arguments)}")
        if outcome.check.why_sql:
            parts.append(f"[dim]why SQL[/] {escape(outcome.check.why_sql)}")
        counts = f"[dim]unexpected[/] {outcome.unexpected_count}  [dim]of[/] {outcome.element_count}  "
        if outcome.unexpected_count is None:
            counts = f"[dim]observed[/] {escape(format_value(outcome.observed_value))}  "
        parts.append(f"{counts}[dim]suite validated in[/] {outcome.duration_s * 1000:.0f} ms")
    colour = "green" if outcome.passed else "red" if outcome.severity is Severity.ERROR else "yellow"
    return Panel(
        Group(*parts), title=f"{outcome.name} · {outcome.asset}", title_align="left", border_style=colour
    )


def quality_command(
    verbose: bool, settings: Settings, console: Console | None = None, *, docs: bool = True
) -> int:
    """Body of `pricing-platform quality [--verbose] [--no-docs]`; returns the exit code."""
    from pricing_platform.quality import engine  # imports great-expectations when it runs

    console = console or Console()
    site = engine.DocsSite(Path(settings.quality_docs_dir), settings.quality_docs_runs_kept) if docs else None
    try:
        validation = engine.validate(
            settings.database_conninfo, Thresholds.from_settings(settings), docs=site
        )
    except psycopg.OperationalError as exc:
        console.print(f"[bold red]cannot reach the database[/]: {escape(str(exc).strip())}")
        return 1
    outcomes = validation.outcomes
    for outcome in outcomes:
        if verbose or not outcome.passed:
            console.print(_details(outcome, verbose))
    console.print(outcomes_table(outcomes))
    for warning in validation.warnings:
        console.print(f"[yellow]{escape(warning)}[/]")
    if validation.data_docs_index:
        console.print(f"Data Docs report: {escape(validation.data_docs_index)}")
    passed = sum(o.passed for o in outcomes)
    failed_errors = sum(not o.passed and o.severity is Severity.ERROR for o in outcomes)
    failed_warnings = len(outcomes) - passed - failed_errors
    line = f"{passed} of {len(CHECKS)} checks passed"
    if passed < len(outcomes):
        line += f"; failed: {failed_errors} ERROR, {failed_warnings} WARN"
    console.print(f"[bold {'green' if passed == len(outcomes) else 'red'}]{line}[/]")
    return 0 if passed == len(outcomes) else 1
