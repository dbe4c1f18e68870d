"""`pricing-platform quality [--verbose]`: every data-quality check against DATABASE_URL, outside Dagster.

Prints one row per check (check, asset, severity, status, offending rows) and, for failures, a sample of
the offending rows; `--verbose` adds every check's query, parameters, count and duration. Returns the exit
code: 0 when every check passes (WARN checks included), 1 otherwise or when the database is unreachable.
"""

from __future__ import annotations

import json

import psycopg
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from pricing_platform.core.settings import Settings
from pricing_platform.quality.checks import CHECKS
from pricing_platform.quality.framework import CheckOutcome, Severity, Thresholds, format_value, run_checks


def outcomes_table(outcomes: list[CheckOutcome]) -> Table:
    """Status, severity and offending count first and never wrapped, so they stay visible in an 80-column
    terminal; the check's name (with its asset below it, dimmed) takes the rest and wraps if it must."""
    table = Table(title="data-quality checks", title_justify="left")
    table.add_column("status", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("offending", justify="right", no_wrap=True)
    table.add_column("check · asset", overflow="fold", ratio=1)
    for o in outcomes:
        if o.error is not None:
            status = "[bold red]ERROR[/]"
        elif o.passed:
            status = "[green]PASS[/]"
        else:
            status = "[bold red]FAIL[/]" if o.severity is Severity.ERROR else "[bold yellow]FAIL[/]"
        offending = "—" if o.error is not None else f"{o.offending_count:,}"
        if o.allowed:
            offending += f" (≤ {o.allowed:,})"
        severity = "[red]ERROR[/]" if o.severity is Severity.ERROR else "[yellow]WARN[/]"
        table.add_row(status, severity, offending, f"{escape(o.name)}\n[dim]{escape(o.asset)}[/]")
    return table


def sample_table(outcome: CheckOutcome) -> Table:
    table = Table(*outcome.columns, show_edge=False, pad_edge=False)
    for row in outcome.sample:
        table.add_row(*(escape(format_value(v)) for v in row))
    return table


def _details(outcome: CheckOutcome, verbose: bool) -> Panel:
    parts: list[object] = [escape(outcome.check.description), f"[bold]{escape(outcome.summary)}[/]"]
    if outcome.sample:
        shown = f"{len(outcome.sample)} of {outcome.offending_count:,} offending rows"
        parts += [f"[dim]{shown}[/]", sample_table(outcome)]
    if verbose:
        parts.append(Syntax(outcome.sql, "sql", word_wrap=True))
        params = json.dumps(dict(outcome.params), ensure_ascii=False)
        parts.append(
            f"[dim]parameters[/] {escape(params)}  [dim]duration[/] {outcome.duration_s * 1000:.1f} ms"
        )
    colour = "green" if outcome.passed else "red" if outcome.severity is Severity.ERROR else "yellow"
    return Panel(
        Group(*parts), title=f"{outcome.name} · {outcome.asset}", title_align="left", border_style=colour
    )


def quality_command(verbose: bool, settings: Settings, console: Console | None = None) -> int:
    """Body of `pricing-platform quality [--verbose]`; returns the exit code."""
    console = console or Console()
    try:
        with psycopg.connect(
            settings.database_conninfo,
            autocommit=True,
            connect_timeout=10,
            application_name="pricing-quality",
        ) as conn:
            outcomes = run_checks(conn, Thresholds.from_settings(settings), CHECKS)
    except psycopg.OperationalError as exc:
        console.print(f"[bold red]cannot reach the database[/]: {escape(str(exc).strip())}")
        return 1
    for outcome in outcomes:
        if verbose or not outcome.passed:
            console.print(_details(outcome, verbose))
    console.print(outcomes_table(outcomes))
    passed = sum(o.passed for o in outcomes)
    failed_errors = sum(not o.passed and o.severity is Severity.ERROR for o in outcomes)
    failed_warnings = len(outcomes) - passed - failed_errors
    line = f"{passed} of {len(outcomes)} checks passed"
    if passed < len(outcomes):
        line += f"; failed: {failed_errors} ERROR, {failed_warnings} WARN"
    console.print(f"[bold {'green' if passed == len(outcomes) else 'red'}]{line}[/]")
    return 0 if passed == len(outcomes) else 1
