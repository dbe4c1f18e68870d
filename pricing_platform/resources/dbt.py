"""dbt as a Dagster resource, connected from the settings: DATABASE_URL is the one source of truth.

`DbtCliResource` passes the process environment to dbt; this subclass adds, for the duration of each
invocation only, the `DBT_PG_*` variables profiles.yml reads (derived from `database_url` by
`pricing_platform.dbt.project_env`), so the resource needs no global environment set up and tests can point
it at their own database."""

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import dbt.version
from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject
from packaging import version
from pydantic import Field

from pricing_platform import dbt as dbt_project
from pricing_platform.settings import Settings


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class DbtResource(DbtCliResource):
    """The dbt CLI on dbt_project/, against the platform's PostgreSQL."""

    database_url: str = Field(description="PostgreSQL the operational tables live in (DATABASE_URL)")
    staging_schema: str = Field(dbt_project.DEFAULT_STAGING_SCHEMA, description="schema of the staging views")
    marts_schema: str = Field(dbt_project.DEFAULT_MARTS_SCHEMA, description="schema of the mart tables")
    pricing_staleness_s: int = Field(6 * 3600, description="competitor prices older than this are stale")

    @classmethod
    def from_settings(cls, settings: Settings, project: DbtProject | None = None) -> "DbtResource":
        return cls(
            project_dir=project or DbtProject(dbt_project.PROJECT_DIR),
            dbt_executable=dbt_project.dbt_executable(),
            database_url=settings.database_conninfo,
            staging_schema=dbt_project.staging_schema(settings),
            marts_schema=dbt_project.marts_schema(settings),
            pricing_staleness_s=settings.pricing_staleness_s,
        )

    def project_env(self) -> dict[str, str]:
        return dbt_project.project_env(
            self.database_url,
            staging_schema=self.staging_schema,
            marts_schema=self.marts_schema,
            pricing_staleness_s=self.pricing_staleness_s,
        )

    # Two start-up costs of DbtCliResource skipped (pinned dagster-dbt 0.29.27; tests/integration/test_dbt.py
    # materialises through this class): `dbt --version` in a subprocess (~3 s, and it asks PyPI for the
    # latest release) when the executable is this environment's own dbt, whose version is known here; and
    # the in-process adapter handle (~1.8 s), used only by fetch_row_counts/fetch_column_metadata, which
    # these assets do not call.
    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable) == Path(sys.executable).with_name("dbt"):
            return version.parse(dbt.version.__version__)
        return DbtCliResource._cli_version.func(self)  # type: ignore[attr-defined]

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None

    def cli(self, args: Sequence[str], **kwargs: Any) -> DbtCliInvocation:
        # `cli` starts the dbt process with a copy of os.environ.
        with _environ(self.project_env()):
            return super().cli(args, **kwargs)
