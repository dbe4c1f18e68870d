"""dbt as a Dagster resource, and the one way the platform runs dbt: the `@dbt_assets` in `assets/dbt.py`
and the `pricing-platform dbt prepare | docs | cli` commands both go through `DbtResource`.

Each invocation gets the connection as `DBT_PG_*` variables derived from `database_url` (set for that
invocation only, so tests can point the resource at their own database) and the project's parameters as
`--vars` from the settings: the schemas, the dashboard's read-only role and the competitor staleness. The
dbt project has no defaults of its own for any of them."""

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliInvocation, DbtProject
from pydantic import Field

from pricing_platform.core import roles
from pricing_platform.core.settings import Settings
from pricing_platform.resources.dbt_startup import FastStartDbtCli
from pricing_platform.transform import catalog_macros
from pricing_platform.transform.project import (
    MANIFEST_PATH,
    PROFILES_DIR,
    PROJECT_DIR,
    TARGET_DIR,
    ManifestMissingError,
    connection_env,
)

# Read by libpq in every dbt connection: JIT compilation of the marts' queries took longer than running
# them (4 s of a 5.6 s incremental model on a busy week, benchmarks/dbt_marts.py).
SESSION_ENV = {"PGOPTIONS": "-c jit=off"}


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


def dbt_executable() -> str:
    """The dbt next to this interpreter (a run process may not have .venv/bin on PATH), else PATH's."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


@dataclass(frozen=True)
class DbtCommandResult:
    returncode: int
    output: str  # dbt's log messages, one per line
    target_path: Path


class DbtResource(FastStartDbtCli):
    """The dbt CLI on dbt_project/, against the platform's PostgreSQL."""

    database_url: str = Field(description="PostgreSQL the operational tables live in (DATABASE_URL)")
    staging_schema: str = Field(description="schema of the staging views (DBT_STAGING_SCHEMA)")
    marts_schema: str = Field(description="schema of the mart tables (DBT_MARTS_SCHEMA)")
    pricing_staleness_s: int = Field(description="competitor prices older than this are stale")
    incremental_lookback_s: int = Field(description="incremental models re-read rows landed this long before")

    @classmethod
    def from_settings(cls, settings: Settings, project: DbtProject | None = None) -> "DbtResource":
        return cls(
            project_dir=project or DbtProject(PROJECT_DIR),
            profiles_dir=str(PROFILES_DIR),
            dbt_executable=dbt_executable(),
            database_url=settings.database_conninfo,
            staging_schema=settings.dbt_staging_schema,
            marts_schema=settings.dbt_marts_schema,
            pricing_staleness_s=settings.pricing_staleness_s,
            incremental_lookback_s=settings.dbt_incremental_lookback_s,
        )

    def project_vars(self) -> dict[str, Any]:
        """The `--vars` every invocation passes: what dbt_project.yml and the models read with var()."""
        return {
            "staging_schema": self.staging_schema,
            "marts_schema": self.marts_schema,
            # The marts grant SELECT to the dashboard's read-only role.
            "reader_role": roles.DASHBOARD_READER,
            # stg_competitor_prices flags the prices the pricing engine still counts as fresh.
            "pricing_staleness_s": self.pricing_staleness_s,
            # Incremental models re-read what landed this long before their newest row (late commits).
            "incremental_lookback_s": self.incremental_lookback_s,
        }

    def cli(self, args: Sequence[str], **kwargs: Any) -> DbtCliInvocation:
        # `cli` starts the dbt process with a copy of os.environ.
        with _environ({**connection_env(self.database_url), **SESSION_ENV}):
            return super().cli([*args, "--vars", json.dumps(self.project_vars())], **kwargs)

    def run(self, args: Sequence[str], *, target_path: Path | None = None) -> DbtCommandResult:
        """Run one dbt command to the end, echoing dbt's messages; never raises on dbt's failure."""
        invocation = self.cli(args, raise_on_error=False, target_path=target_path)
        messages = [str(event) for event in invocation.stream_raw_events()]
        return DbtCommandResult(invocation.process.wait(), "\n".join(messages), invocation.target_path)

    def prepare(self) -> Path:
        """Build step: regenerate the catalog macros, then `dbt parse` → target/manifest.json. Needs no
        database connection."""
        catalog_macros.write_catalog_macros()
        result = self.run(["parse", "--quiet"], target_path=TARGET_DIR)
        if result.returncode != 0:
            raise RuntimeError(f"dbt parse failed (exit {result.returncode}):\n{result.output[-4000:]}")
        if not MANIFEST_PATH.exists():
            raise ManifestMissingError(f"dbt parse succeeded but wrote no manifest at {MANIFEST_PATH}")
        return MANIFEST_PATH

    def docs(
        self,
        *,
        target_path: Path = TARGET_DIR,
        serve_on: tuple[str, int] | None = None,
        on_generated: Callable[[Path], None] | None = None,
    ) -> Path:
        """`dbt docs generate` (reads the live catalog of the database); then serves the site on
        `serve_on` (host, port) until interrupted, when given."""
        generated = self.run(["docs", "generate"], target_path=target_path)
        if generated.returncode != 0:
            raise RuntimeError(f"dbt docs generate failed:\n{generated.output[-4000:]}")
        index = target_path / "index.html"
        if on_generated:
            on_generated(index)
        if serve_on:
            host, port = serve_on
            self.run(
                ["docs", "serve", "--host", host, "--port", str(port), "--no-browser"],
                target_path=target_path,
            )
        return index
