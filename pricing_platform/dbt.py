"""The dbt project (`dbt_project/`) from Python: its connection derived from the settings, the catalog values
its tests accept, and the build-time steps.

One source of truth for the connection: `dbt_project/profiles.yml` reads only `DBT_PG_*` environment
variables, and `dbt_env` derives them from `Settings.database_url`, so the workers, the pricing engine,
Dagster and dbt always talk to the same database. One source of truth for the domain values: the
accepted-values lists of the dbt tests (categories, event types, device types, warehouses, competitors,
recommendations) are macros generated from `catalog.py`, `events.py` and the pricing engine into
`dbt_project/macros/catalog_values.sql`; a unit test fails when that file drifts.

    pricing-platform dbt prepare      # build step: regenerate the macros, `dbt parse` → manifest
    pricing-platform dbt docs         # `dbt docs generate` against DATABASE_URL (--serve to browse)
    pricing-platform dbt generate     # only rewrite the catalog macros
    pricing-platform dbt cli build    # any dbt command, connected from the settings
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from psycopg.conninfo import conninfo_to_dict

from pricing_platform import catalog, events
from pricing_platform.db import roles
from pricing_platform.pricing.engine import RECOMMENDATIONS
from pricing_platform.settings import PROJECT_ROOT, Settings, get_settings

log = logging.getLogger(__name__)

PROJECT_DIR: Final = PROJECT_ROOT / "dbt_project"
PROFILES_DIR: Final = PROJECT_DIR
TARGET_DIR: Final = PROJECT_DIR / "target"
MANIFEST_PATH: Final = TARGET_DIR / "manifest.json"
CATALOG_MACROS_PATH: Final = PROJECT_DIR / "macros" / "catalog_values.sql"
PREPARE_COMMAND: Final = ".venv/bin/pricing-platform dbt prepare"

# The operational tables live where the migrations created them: the connection's default schema.
RAW_SCHEMA: Final = "public"
DEFAULT_STAGING_SCHEMA: Final[str] = Settings.model_fields["dbt_staging_schema"].default
DEFAULT_MARTS_SCHEMA: Final[str] = Settings.model_fields["dbt_marts_schema"].default

# Bucket of daily_funnel_metrics for sessions that never reached a product (page views only).
UNATTRIBUTED: Final = "unattributed"


class ManifestMissingError(FileNotFoundError):
    """The definitions load only reads the manifest; the install step writes it."""


# --- connection ----------------------------------------------------------------------------------------


def connection_env(database_url: str) -> dict[str, str]:
    """The `DBT_PG_*` variables profiles.yml reads, from a PostgreSQL URL (or key=value conninfo)."""
    params = conninfo_to_dict(database_url)
    host = str(params.get("host") or "127.0.0.1")
    if "," in host:
        raise ValueError("dbt-postgres connects to a single host; DATABASE_URL lists several")
    env = {
        "DBT_PG_HOST": host,
        "DBT_PG_PORT": str(params.get("port") or 5432),
        "DBT_PG_USER": str(params.get("user") or "pricing"),
        "DBT_PG_DBNAME": str(params.get("dbname") or params.get("user") or "pricing"),
        "DBT_ENV_SECRET_PG_PASSWORD": str(params.get("password") or ""),
    }
    if params.get("sslmode"):
        env["DBT_PG_SSLMODE"] = str(params["sslmode"])
    return env


def staging_schema(settings: Settings) -> str:
    return settings.dbt_staging_schema


def marts_schema(settings: Settings) -> str:
    return settings.dbt_marts_schema


def project_env(
    database_url: str,
    *,
    staging_schema: str = DEFAULT_STAGING_SCHEMA,
    marts_schema: str = DEFAULT_MARTS_SCHEMA,
    pricing_staleness_s: int = 6 * 3600,
) -> dict[str, str]:
    """Every environment variable the dbt project reads (profiles.yml, dbt_project.yml, models)."""
    return {
        **connection_env(database_url),
        "DBT_PG_SCHEMA": RAW_SCHEMA,
        "DBT_STAGING_SCHEMA": staging_schema,
        "DBT_MARTS_SCHEMA": marts_schema,
        # The marts grant SELECT to the dashboard's read-only role.
        "DBT_READER_ROLE": roles.DASHBOARD_READER,
        # stg_competitor_prices flags the prices the pricing engine still counts as fresh.
        "PRICING_STALENESS_S": str(pricing_staleness_s),
    }


def dbt_env(settings: Settings) -> dict[str, str]:
    """`project_env` for these settings."""
    return project_env(
        settings.database_conninfo,
        staging_schema=staging_schema(settings),
        marts_schema=marts_schema(settings),
        pricing_staleness_s=settings.pricing_staleness_s,
    )


# --- accepted values, generated ------------------------------------------------------------------------


def catalog_values() -> dict[str, tuple[str, ...]]:
    """Macro name → the values it returns, from the Python sources of truth."""
    return {
        "categories": tuple(c.value for c in catalog.Category),
        "click_event_types": tuple(events.CLICK_EVENT_TYPES),
        "device_types": tuple(events.DEVICE_TYPES),
        "inventory_event_types": tuple(events.INVENTORY_EVENT_TYPES),
        "warehouses": tuple(catalog.WAREHOUSES),
        "competitors": tuple(catalog.COMPETITORS),
        "recommendations": tuple(RECOMMENDATIONS),
        "funnel_categories": (*(c.value for c in catalog.Category), UNATTRIBUTED),
    }


def render_catalog_macros() -> str:
    lines = [
        "{#- GENERATED by `pricing-platform dbt generate` from pricing_platform/catalog.py,",
        "    pricing_platform/events.py and pricing_platform/pricing/engine.py: do not edit by hand.",
        "    tests/unit/test_dbt_project.py fails when this file drifts from those modules. -#}",
    ]
    for name, values in catalog_values().items():
        quoted = ", ".join(f"'{value}'" for value in values)
        lines.append(f"\n{{% macro {name}() %}}{{{{ return([{quoted}]) }}}}{{% endmacro %}}")
    lines.append(f"\n{{% macro unattributed_category() %}}{{{{ return('{UNATTRIBUTED}') }}}}{{% endmacro %}}")
    return "\n".join(lines) + "\n"


def write_catalog_macros(path: Path = CATALOG_MACROS_PATH) -> bool:
    """Rewrites the generated macros when they differ; True when the file changed."""
    text = render_catalog_macros()
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


# --- running dbt ---------------------------------------------------------------------------------------


def dbt_executable() -> str:
    """The dbt next to this interpreter (a run process may not have .venv/bin on PATH), else PATH's."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def run_dbt(
    args: Sequence[str], settings: Settings, *, check: bool = True, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    """Runs one dbt command on the project, connected from `settings`."""
    env: Mapping[str, str] = {
        **os.environ,
        **dbt_env(settings),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(PROFILES_DIR),
        "DBT_PROJECT_DIR": str(PROJECT_DIR),
    }
    return subprocess.run(
        [dbt_executable(), *args],
        cwd=PROJECT_DIR,
        env=dict(env),
        check=check,
        text=True,
        capture_output=capture,
    )


def prepare(settings: Settings | None = None) -> Path:
    """Build step: regenerate the catalog macros, then `dbt parse` → target/manifest.json. No database
    connection is needed."""
    if write_catalog_macros():
        log.info("rewrote %s", CATALOG_MACROS_PATH)
    run_dbt(["parse", "--quiet", "--target-path", str(TARGET_DIR)], settings or get_settings())
    if not MANIFEST_PATH.exists():
        raise ManifestMissingError(f"dbt parse succeeded but wrote no manifest at {MANIFEST_PATH}")
    return MANIFEST_PATH


def docs(
    settings: Settings | None = None, *, target_path: Path = TARGET_DIR, serve: bool = False, port: int = 8080
) -> Path:
    """`dbt docs generate` (reads the live catalog of the database), optionally serving the site."""
    settings = settings or get_settings()
    run_dbt(["docs", "generate", "--target-path", str(target_path)], settings)
    if serve:
        run_dbt(
            ["docs", "serve", "--target-path", str(target_path), "--host", settings.local_bind_host,
             "--port", str(port), "--no-browser"],
            settings,
        )  # fmt: skip
    return target_path / "index.html"


def require_manifest(path: Path = MANIFEST_PATH) -> Path:
    """The prepared manifest, or a clear error saying how to prepare it. Warns when the project changed
    after it was written (the Dagster asset graph would be stale)."""
    if not path.exists():
        raise ManifestMissingError(
            f"dbt manifest not found at {path}. It is built at install time, not on every definitions "
            f"load: run `{PREPARE_COMMAND}` (`make install` runs it)."
        )
    built = path.stat().st_mtime
    sources = [
        PROJECT_DIR / "dbt_project.yml",
        *(p for d in ("models", "macros", "tests") for p in PROJECT_DIR.glob(f"{d}/**/*")),
    ]
    if any(p.stat().st_mtime > built for p in sources if p.is_file()):
        log.warning("the dbt project changed after %s was written: run `%s`", path, PREPARE_COMMAND)
    return path
