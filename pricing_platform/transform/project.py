"""Where the dbt project lives, how it reaches the platform's PostgreSQL, and the guard on its manifest.

One source of truth for the connection: `dbt_project/profiles.yml` reads only `DBT_PG_*` environment
variables, and `connection_env` derives them from `DATABASE_URL`, so the workers, the pricing engine,
Dagster and dbt always talk to the same database. The project's own parameters (schemas, the dashboard's
role, the competitor staleness) reach it as `--vars` from the settings (`resources/dbt.py`); neither file
holds a default of its own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from psycopg.conninfo import conninfo_to_dict

from pricing_platform.core.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

PROJECT_DIR: Final = PROJECT_ROOT / "dbt_project"
PROFILES_DIR: Final = PROJECT_DIR
TARGET_DIR: Final = PROJECT_DIR / "target"
MANIFEST_PATH: Final = TARGET_DIR / "manifest.json"
PREPARE_COMMAND: Final = ".venv/bin/pricing-platform dbt prepare"

# The operational tables live where the migrations created them: the connection's default schema.
RAW_SCHEMA: Final = "public"


class ManifestMissingError(FileNotFoundError):
    """The definitions load only reads the manifest; the install step writes it."""


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
        "DBT_PG_SCHEMA": RAW_SCHEMA,
        "DBT_PG_SSLMODE": str(params.get("sslmode") or "prefer"),
    }
    return env


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
