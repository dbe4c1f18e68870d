"""Data-quality checks: the framework (`framework.py`), the checks one module per table (`checks/`), the
great-expectations runner (`engine.py`), the checked-cycle watermark (`cycles.py`) and the
`pricing-platform quality` command (`cli.py`). Their Dagster asset checks, job, schedule and sensor are in
`pricing_platform/assets/quality.py` and `pricing_platform/sensors/quality.py`.

Importing this package imports neither Dagster nor great-expectations (the CLI and the pricing run stay
quick); `engine.validate` imports GX when it first runs.
"""

from pricing_platform.quality.checks import CHECKS, CHECKS_BY_NAME, checks_for, guarded_assets
from pricing_platform.quality.framework import (
    CheckOutcome,
    QualityCheck,
    Severity,
    Thresholds,
    Validation,
)

__all__ = [
    "CHECKS",
    "CHECKS_BY_NAME",
    "CheckOutcome",
    "QualityCheck",
    "Severity",
    "Thresholds",
    "Validation",
    "checks_for",
    "guarded_assets",
]
