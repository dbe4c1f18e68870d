"""The dbt project states no domain value, no connection detail and no default of its own: accepted values
are generated from the Python catalog and event contract, the connection from DATABASE_URL, its parameters
arrive as --vars from the settings."""

import re
from pathlib import Path

import numpy as np
import pytest

from pricing_platform.core import catalog, events
from pricing_platform.core.decisions import RECOMMENDATIONS
from pricing_platform.core.settings import default_settings
from pricing_platform.pricing.engine import columns_from_rows, decide
from pricing_platform.pricing.rules import PricingRules
from pricing_platform.resources.dbt import DbtResource
from pricing_platform.transform import catalog_macros, project


def test_generated_catalog_macros_match_the_python_catalog() -> None:
    on_disk = catalog_macros.CATALOG_MACROS_PATH.read_text()
    assert on_disk == catalog_macros.render_catalog_macros(), (
        "dbt_project/macros/catalog_values.sql drifted from the catalog: run `pricing-platform dbt generate`"
    )
    values = catalog_macros.catalog_values()
    assert values["categories"] == tuple(c.value for c in catalog.Category)
    assert values["warehouses"] == catalog.WAREHOUSES
    assert values["competitors"] == catalog.COMPETITORS
    assert values["click_event_types"] == events.CLICK_EVENT_TYPES
    assert values["device_types"] == events.DEVICE_TYPES
    assert values["inventory_event_types"] == events.INVENTORY_EVENT_TYPES
    for name, listed in values.items():
        assert f"{{% macro {name}() %}}{{{{ return({list(listed)!r}) }}}}" in on_disk


def test_engine_decisions_are_the_listed_recommendations() -> None:
    rows = [  # product, current, cost, avg, seen, below, mean age, newest age, velocity
        ("P1", 120.0, 50.0, 100.0, 3, 3, 60.0, 60.0, 0),  # 20 % above, no demand: lower
        ("P2", 80.0, 50.0, 100.0, 3, 0, 60.0, 60.0, 9),  # 20 % below, demand: raise
        ("P3", 100.0, 50.0, 100.0, 3, 0, 60.0, 60.0, 0),  # parity: hold
    ]
    decided = decide(columns_from_rows(rows), PricingRules.defaults())
    assert decided["recommendation"].tolist() == ["lower", "raise", "hold"]
    assert set(np.unique(decided["recommendation"])) == set(RECOMMENDATIONS)


def test_no_catalog_value_is_typed_in_the_dbt_project() -> None:
    typed = [
        *(c.value for c in catalog.Category),
        *catalog.WAREHOUSES,
        *catalog.COMPETITORS,
        *events.DEVICE_TYPES,
    ]
    offenders = []
    for path in project.PROJECT_DIR.glob("*/**/*"):
        if path.suffix not in (".sql", ".yml") or path == catalog_macros.CATALOG_MACROS_PATH:
            continue
        if "target" in path.relative_to(project.PROJECT_DIR).parts:
            continue
        text = path.read_text()
        offenders += [f"{path.name}: {v}" for v in typed if f"'{v}'" in text or f'"{v}"' in text]
    assert offenders == [], "use the generated macros (macros/catalog_values.sql) instead"


def test_connection_comes_from_database_url() -> None:
    env = project.connection_env("postgresql://app:s3cret@db.internal:6543/shop?sslmode=require")
    assert env == {
        "DBT_PG_HOST": "db.internal",
        "DBT_PG_PORT": "6543",
        "DBT_PG_USER": "app",
        "DBT_PG_DBNAME": "shop",
        "DBT_ENV_SECRET_PG_PASSWORD": "s3cret",
        "DBT_PG_SCHEMA": "public",
        "DBT_PG_SSLMODE": "require",
    }
    local = project.connection_env("postgresql://pricing@127.0.0.1:55432/pricing")
    assert (local["DBT_PG_HOST"], local["DBT_PG_PORT"], local["DBT_ENV_SECRET_PG_PASSWORD"]) == (
        "127.0.0.1",
        "55432",
        "",
    )


def _project_files() -> list[Path]:
    return [
        project.PROJECT_DIR / "profiles.yml",
        project.PROJECT_DIR / "dbt_project.yml",
        *project.PROJECT_DIR.glob("models/**/*.sql"),
        *project.PROJECT_DIR.glob("macros/**/*.sql"),
        *project.PROJECT_DIR.glob("tests/**/*.sql"),
    ]


def test_the_project_reads_exactly_the_variables_python_provides() -> None:
    env_read: set[str] = set()
    vars_read: set[str] = set()
    for path in _project_files():
        text = path.read_text()
        env_read |= set(re.findall(r"env_var\('([A-Z0-9_]+)'", text))
        vars_read |= set(re.findall(r"\bvar\('(\w+)'", text))
    assert env_read == set(project.connection_env("postgresql://u:p@h:1/d?sslmode=require"))
    resource = DbtResource.from_settings(default_settings())
    assert vars_read == set(resource.project_vars())


def test_the_project_writes_no_default_of_its_own() -> None:
    # A default in env_var() or var() would be a second copy of a setting's default.
    for path in _project_files():
        text = path.read_text()
        assert not re.findall(r"env_var\('\w+'\s*,", text), path
        assert not re.findall(r"\bvar\('\w+'\s*,", text), path


def test_project_vars_come_from_the_settings() -> None:
    settings = default_settings().model_copy(
        update={"dbt_marts_schema": "m2", "dbt_staging_schema": "s2", "pricing_staleness_s": 60}
    )
    assert DbtResource.from_settings(settings).project_vars() == {
        "staging_schema": "s2",
        "marts_schema": "m2",
        "reader_role": "pricing_dashboard",
        "pricing_staleness_s": 60,
        "incremental_lookback_s": 900,
    }


def test_a_missing_manifest_names_the_command_that_prepares_it(tmp_path: Path) -> None:
    with pytest.raises(project.ManifestMissingError, match=re.escape(project.PREPARE_COMMAND)):
        project.require_manifest(tmp_path / "manifest.json")


def test_mart_names_the_code_reads_are_dbt_mart_models() -> None:
    from pricing_platform.core import tables

    models = {p.stem for p in (project.PROJECT_DIR / "models" / "marts").glob("*.sql")}
    assert set(tables.MARTS) == models


def test_marts_grant_select_to_the_dashboard_reader_role() -> None:
    from pricing_platform.core import roles

    resource = DbtResource.from_settings(default_settings())
    assert resource.project_vars()["reader_role"] == roles.DASHBOARD_READER
    project_yml = (project.PROJECT_DIR / "dbt_project.yml").read_text()
    assert "+grants:" in project_yml and "var('reader_role')" in project_yml


def test_role_names_in_the_migration_match_the_code() -> None:
    from pricing_platform.core import roles
    from pricing_platform.db import migrate

    migration = (migrate.MIGRATIONS_DIR / "versions" / "0004_dashboard_roles.py").read_text()
    assert f'READER = "{roles.DASHBOARD_READER}"' in migration
    assert f'APPROVER = "{roles.PRICE_APPROVER}"' in migration
