"""The pricing engine's vocabulary, shared by the engine, the quality checks, the dbt tests' accepted values,
the metrics and the dashboard: what it may decide, which guardrails may bind, the phases of a cycle."""

from __future__ import annotations

from typing import Final

RECOMMENDATIONS: Final = ("raise", "lower", "hold")
# In the order the strategies apply them (the rules strategy uses max_step, price_ending and min_margin;
# the profit strategy all of them).
GUARDRAILS: Final = ("stock_cover", "price_war", "max_step", "map_bounds", "price_ending", "min_margin")
STRATEGIES: Final = ("rules", "profit")
CYCLE_PHASES: Final = ("read", "decide", "write")
