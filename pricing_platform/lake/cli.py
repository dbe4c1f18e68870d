"""`pricing-platform lake query "SQL"`: the lake's SQL, printed as a table."""

from __future__ import annotations

import duckdb
from rich.console import Console
from rich.table import Table

from pricing_platform.core.settings import Settings, get_settings
from pricing_platform.lake.query import query_lake

MAX_ROWS = 1000


def lake_query_command(sql: str, settings: Settings | None = None) -> int:
    """Print the result of `sql` over the lake (views: clickstream, inventory, competitor_prices,
    pricing_recommendations; a `date` column per partition). Returns the exit code."""
    console = Console()
    try:
        result = query_lake(sql, settings or get_settings())
    except (duckdb.Error, OSError, RuntimeError) as exc:
        console.print(f"[red]lake query failed:[/red] {exc}")
        return 1
    table = Table(*result.column_names, show_lines=False)
    for row in result.slice(0, MAX_ROWS).to_pylist():
        table.add_row(*("∅" if v is None else str(v) for v in row.values()))
    console.print(table)
    shown = min(result.num_rows, MAX_ROWS)
    more = f" (first {shown:,} shown)" if result.num_rows > shown else ""
    console.print(f"{result.num_rows:,} row(s){more}")
    return 0
