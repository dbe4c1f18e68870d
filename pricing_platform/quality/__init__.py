"""Data-quality checks: one registry (`checks.py`), a runner usable anywhere (`runner.py`), their Dagster
asset checks, job and schedule (`assets.py`) and the `pricing-platform quality` command (`cli.py`).

Importing this package does not import Dagster (the CLI stays quick); import `pricing_platform.quality.assets`
for the Dagster objects.
"""

from pricing_platform.quality.checks import CHECKS, CHECKS_BY_NAME, QualityCheck, Severity, Thresholds
from pricing_platform.quality.runner import CheckOutcome, run_all_checks, run_check, run_checks

__all__ = [
    "CHECKS",
    "CHECKS_BY_NAME",
    "CheckOutcome",
    "QualityCheck",
    "Severity",
    "Thresholds",
    "run_all_checks",
    "run_check",
    "run_checks",
]
