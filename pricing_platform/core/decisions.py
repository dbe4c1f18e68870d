"""The pricing engine's vocabulary, shared by the engine, the quality checks, the dbt tests' accepted values,
the metrics and the dashboard: what it may decide, which guardrails may bind, the phases of a cycle."""

from __future__ import annotations

from typing import Final

RECOMMENDATIONS: Final = ("raise", "lower", "hold")
# In the order the engine applies them.
GUARDRAILS: Final = ("max_step", "price_ending", "min_margin")
CYCLE_PHASES: Final = ("read", "decide", "write")
