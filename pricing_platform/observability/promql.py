"""Metric names referenced by a PromQL expression, and the names the dashboards and alert rules may use.

Not a full PromQL parser: enough of the grammar to tell metric names from functions, aggregation and
set keywords, label names (inside `{…}` and `by/without/on/ignoring/group_*(…)`), label values (strings),
durations (`[5m]`), numbers and Grafana variables (`$__rate_interval`). Anything that is left and looks like
an identifier is a metric name.
"""

from __future__ import annotations

import re

from pricing_platform.observability.metrics import exported_metric_names

# The PostgreSQL exporter's series the dashboards and rules use; an integration test scrapes a real exporter
# (the Debian package, 0.11) and checks that each exists.
POSTGRES_EXPORTER_METRICS = frozenset(
    {"pg_up", "pg_stat_activity_count", "pg_settings_max_connections", "pg_stat_activity_max_tx_duration"}
)
# Series Prometheus writes itself for every scrape target.
PROMETHEUS_SERIES = frozenset({"up"})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_OFFSET = re.compile(r"\boffset\s+-?\d+[smhdwy]")
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
)
_NUMBER_WORDS = frozenset({"inf", "nan", "Inf", "NaN"})


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` selects (function and aggregation names excluded)."""
    text = _STRING.sub(" ", expr)
    text = _VARIABLE.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name in _KEYWORDS or name in _NUMBER_WORDS:
            continue
        names.add(name)
    return names


def known_metric_names() -> set[str]:
    return exported_metric_names() | POSTGRES_EXPORTER_METRICS | PROMETHEUS_SERIES


def unknown_metrics(exprs: dict[str, str]) -> dict[str, set[str]]:
    """where → the names its expression uses that nothing exports (empty when all are known)."""
    known = known_metric_names()
    return {where: missing for where, expr in exprs.items() if (missing := metric_names(expr) - known)}
