"""Data-quality checks: the framework (`framework.py`), the checks one module per table (`checks/`) and the
`pricing-platform quality` command (`cli.py`). Their Dagster asset checks, job and schedule are in
`pricing_platform/assets/quality.py`.

Importing this package does not import Dagster (the CLI stays quick).
"""

from pricing_platform.quality.checks import CHECKS, CHECKS_BY_NAME, checks_for, guarded_assets
from pricing_platform.quality.framework import (
    CheckOutcome,
    QualityCheck,
    Severity,
    Thresholds,
    run_check,
    run_checks,
)

__all__ = [
    "CHECKS",
    "CHECKS_BY_NAME",
    "CheckOutcome",
    "QualityCheck",
    "Severity",
    "Thresholds",
    "checks_for",
    "guarded_assets",
    "run_check",
    "run_checks",
]
