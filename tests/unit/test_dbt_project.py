"""The dbt project states no domain value and no connection detail of its own: accepted values are
generated from the Python catalog and event contract, the connection from DATABASE_URL."""

import re
from pathlib import Path

import numpy as np
import pytest

from pricing_platform import catalog, events
from pricing_platform import dbt as dbt_project
from pricing_platform.pricing.engine import RECOMMENDATIONS, columns_from_rows, decide
from pricing_platform.pricing.rules import PricingRules


def test_generated_catalog_macros_match_the_python_catalog() -> None:
    on_disk = dbt_project.CATALOG_MACROS_PATH.read_text()
    assert on_disk == dbt_project.render_catalog_macros(), (
        "dbt_project/macros/catalog_values.sql drifted from the catalog: run `pricing-platform dbt generate`"
    )
    values = dbt_project.catalog_values()
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
    decided = decide(columns_from_rows(rows), PricingRules())
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
    for path in dbt_project.PROJECT_DIR.glob("*/**/*"):
        if path.suffix not in (".sql", ".yml") or path == dbt_project.CATALOG_MACROS_PATH:
            continue
        if "target" in path.relative_to(dbt_project.PROJECT_DIR).parts:
            continue
        text = path.read_text()
        offenders += [f"{path.name}: {v}" for v in typed if f"'{v}'" in text or f'"{v}"' in text]
    assert offenders == [], "use the generated macros (macros/catalog_values.sql) instead"


def test_connection_comes_from_database_url() -> None:
    env = dbt_project.connection_env("postgresql://app:s3cret@db.internal:6543/shop?sslmode=require")
    assert env == {
        "DBT_PG_HOST": "db.internal",
        "DBT_PG_PORT": "6543",
        "DBT_PG_USER": "app",
        "DBT_PG_DBNAME": "shop",
        "DBT_ENV_SECRET_PG_PASSWORD": "s3cret",
        "DBT_PG_SSLMODE": "require",
    }
    local = dbt_project.connection_env("postgresql://pricing@127.0.0.1:55432/pricing")
    assert (local["DBT_PG_HOST"], local["DBT_PG_PORT"], local["DBT_ENV_SECRET_PG_PASSWORD"]) == (
        "127.0.0.1",
        "55432",
        "",
    )


def test_the_project_reads_exactly_the_variables_python_provides() -> None:
    read = set()
    for path in [
        dbt_project.PROJECT_DIR / "profiles.yml",
        dbt_project.PROJECT_DIR / "dbt_project.yml",
        *dbt_project.PROJECT_DIR.glob("models/**/*.sql"),
    ]:
        read |= set(re.findall(r"env_var\('([A-Z0-9_]+)'", path.read_text()))
    provided = set(dbt_project.project_env("postgresql://u:p@h:1/d?sslmode=require"))
    assert read == provided
    # The profile's defaults are the settings' defaults (the local stack).
    profile = (dbt_project.PROJECT_DIR / "profiles.yml").read_text()
    local = dbt_project.connection_env("postgresql://pricing@127.0.0.1:55432/pricing")
    for name in ("DBT_PG_HOST", "DBT_PG_PORT", "DBT_PG_USER", "DBT_PG_DBNAME"):
        assert f"env_var('{name}', '{local[name]}')" in profile, name


def test_a_missing_manifest_names_the_command_that_prepares_it(tmp_path: Path) -> None:
    with pytest.raises(dbt_project.ManifestMissingError, match=re.escape(dbt_project.PREPARE_COMMAND)):
        dbt_project.require_manifest(tmp_path / "manifest.json")


def test_mart_names_the_code_reads_are_dbt_mart_models() -> None:
    from pricing_platform.db import tables

    models = {p.stem for p in (dbt_project.PROJECT_DIR / "models" / "marts").glob("*.sql")}
    assert set(tables.MARTS) == models


def test_marts_grant_select_to_the_dashboard_reader_role() -> None:
    from pricing_platform.db import roles

    env = dbt_project.project_env("postgresql://pricing@127.0.0.1:5432/pricing")
    assert env["DBT_READER_ROLE"] == roles.DASHBOARD_READER
    project = (dbt_project.PROJECT_DIR / "dbt_project.yml").read_text()
    assert "+grants:" in project and "env_var('DBT_READER_ROLE'" in project


def test_role_names_in_the_migration_match_the_code() -> None:
    from pricing_platform.db import migrate, roles

    migration = (migrate.MIGRATIONS_DIR / "versions" / "0004_dashboard_roles.py").read_text()
    assert f'READER = "{roles.DASHBOARD_READER}"' in migration
    assert f'APPROVER = "{roles.PRICE_APPROVER}"' in migration
