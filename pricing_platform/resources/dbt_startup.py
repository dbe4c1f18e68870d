"""Two start-up costs of dagster-dbt's `DbtCliResource` skipped, kept apart because they override private
methods of the pinned release (dagster-dbt 0.29.27): `tests/unit/test_dbt_startup.py` fails when the pin
or those methods change, so an upgrade re-examines them rather than breaking silently.

- `_cli_version` runs `dbt --version` in a subprocess (~3 s, and dbt asks PyPI for its latest release)
  to learn the version of the dbt executable. When the executable is this environment's own dbt, its
  version is the installed dbt-core's, known without a subprocess.
- `_initialize_dbt_core_adapter` builds an in-process adapter handle (~1.8 s), used only by
  `fetch_row_counts` / `fetch_column_metadata`, which the platform's assets do not call.

Together they save about 4.8 s on every dbt invocation (a dbt run every 5 minutes, `dbt prepare` at
install time, every `pricing-platform dbt …` command).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Final

import dbt.version
from dagster_dbt import DbtCliResource
from packaging import version

# The dagster-dbt release whose private methods the overrides below were written against.
PINNED_DAGSTER_DBT: Final = "0.29.27"
OVERRIDDEN: Final = ("_cli_version", "_initialize_dbt_core_adapter")


class FastStartDbtCli(DbtCliResource):
    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable) == Path(sys.executable).with_name("dbt"):
            return version.parse(dbt.version.__version__)
        return DbtCliResource._cli_version.func(self)  # type: ignore[attr-defined]

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None
