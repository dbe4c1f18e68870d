"""The data-quality checks as a Dagster resource: it is the `Thresholds` object, plus where the GX Data
Docs report goes. `validate` and `check_cycle` run checks with great-expectations (imported on first use,
so the definitions load without it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

import dagster as dg

from pricing_platform.core.settings import Settings
from pricing_platform.quality import cycles, engine
from pricing_platform.quality.framework import QualityCheck, Thresholds, Validation


class QualityResource(dg.ConfigurableResource, Thresholds):
    """Built with `from_settings`, like the object it is."""

    docs_dir: str  # QUALITY_DOCS_DIR
    docs_runs_kept: int  # QUALITY_DOCS_RUNS_KEPT

    @classmethod
    def from_settings(cls, settings: Settings) -> QualityResource:
        values = settings.section(cls, cls.settings_prefix, **cls.settings_renamed)
        return cls(**{**values, "docs_dir": str(values["docs_dir"])})

    @property
    def docs(self) -> engine.DocsSite:
        return engine.DocsSite(Path(self.docs_dir), self.docs_runs_kept)

    def validate(
        self, conninfo: str, checks: Sequence[QualityCheck], *, cycle_id: UUID | None = None
    ) -> Validation:
        return engine.validate(
            conninfo,
            self,
            checks,
            cycle_id=cycle_id,
            docs=self.docs,
            application_name="pricing-dagster-quality",
        )

    def check_cycle(self, conninfo: str, cycle: cycles.Cycle) -> cycles.CycleVerdict:
        return cycles.check_cycle(
            conninfo, self, cycle, docs=self.docs, application_name="pricing-dagster-quality"
        )
