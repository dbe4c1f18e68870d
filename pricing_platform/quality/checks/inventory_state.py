"""Checks of `inventory_state`: current stock per product × warehouse."""

from __future__ import annotations

from typing import Final

from psycopg import sql

from pricing_platform.core import catalog, tables
from pricing_platform.quality.framework import (
    Dataset,
    QualityCheck,
    Severity,
    gxe,
    unexpected_rows_query,
    zero,
)

EXPECTED_SLOTS = len(catalog.PRODUCTS) * len(catalog.WAREHOUSES)

INVENTORY_STATE: Final = Dataset(
    name=tables.INVENTORY_STATE,
    table=tables.INVENTORY_STATE,
    sample_columns=("product_id", "warehouse_id"),
    bounded=True,
)

_CATALOG_SLOTS = sql.SQL(", ").join(
    sql.SQL("({}, {})").format(sql.Literal(p.product_id), sql.Literal(w))
    for p in catalog.PRODUCTS
    for w in catalog.WAREHOUSES
)

CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck(
        name="inventory_stock_not_negative",
        asset=tables.INVENTORY_STATE,
        dataset=INVENTORY_STATE,
        severity=Severity.ERROR,
        description="No product × warehouse slot holds negative stock. Also guaranteed today by the "
        "CHECK constraint stock_not_negative; kept against schema drift, replicas and manual loads.",
        expectation=lambda _th, _scope: gxe.ExpectColumnValuesToBeBetween(
            column="current_stock", min_value=0
        ),
        threshold=zero("slots with current_stock < 0"),
        enforced_by="CHECK stock_not_negative (current_stock >= 0) on inventory_state",
    ),
    QualityCheck(
        name="inventory_slot_count_matches_catalog",
        asset=tables.INVENTORY_STATE,
        dataset=INVENTORY_STATE,
        severity=Severity.ERROR,
        description=f"Exactly {EXPECTED_SLOTS} stock slots: one per catalog product × warehouse "
        f"({len(catalog.PRODUCTS)} × {len(catalog.WAREHOUSES)}). Lists each missing, duplicated or "
        "non-catalog slot. The primary key rules out duplicates today; nothing rules out missing or "
        "extra slots.",
        expectation=lambda _th, _scope: gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=unexpected_rows_query(
                """
                WITH expected (product_id, warehouse_id) AS (VALUES {slots}),
                actual AS (SELECT product_id, warehouse_id, count(*) AS found FROM {batch} AS s GROUP BY 1, 2)
                SELECT product_id, warehouse_id, coalesce(a.found, 0) AS rows_found,
                       CASE WHEN e.product_id IS NULL THEN 'not in the catalog'
                            WHEN a.found IS NULL THEN 'missing'
                            ELSE 'duplicated' END AS problem
                FROM expected e FULL JOIN actual a USING (product_id, warehouse_id)
                WHERE e.product_id IS NULL OR a.found IS NULL OR a.found > 1
                ORDER BY product_id, warehouse_id
                """,
                slots=_CATALOG_SLOTS,
            )
        ),
        threshold=lambda _: f"exactly {EXPECTED_SLOTS} rows, one per catalog product × warehouse",
        why_sql="It compares the set of (product, warehouse) pairs with the catalog's grid: "
        f"ExpectTableRowCountToEqual({EXPECTED_SLOTS}) would pass a missing slot plus an extra one and "
        "name neither, and GX has no Expectation comparing a column pair with a reference set.",
        enforced_by="PRIMARY KEY (product_id, warehouse_id) rules out duplicates only",
    ),
    QualityCheck(
        name="inventory_stock_within_max",
        asset=tables.INVENTORY_STATE,
        dataset=INVENTORY_STATE,
        severity=Severity.WARN,
        description="No slot holds implausibly much stock: a larger figure is almost always a mistyped "
        "receipt or adjustment (movements may be up to ±1,000,000 units by the contract).",
        expectation=lambda th, _: gxe.ExpectColumnValuesToBeBetween(
            column="current_stock", max_value=th.max_stock_per_slot
        ),
        threshold=lambda th: f"0 slots with current_stock > {th.max_stock_per_slot:,}",
    ),
    QualityCheck(
        name="inventory_stock_equals_applied_movements",
        asset=tables.INVENTORY_STATE,
        dataset=INVENTORY_STATE,
        severity=Severity.ERROR,
        description="Each slot's current_stock equals the sum of its applied movements in "
        "inventory_events (opening balances are movements too), and no movement belongs to a slot "
        "that does not exist. A difference means stock was written outside the ingest path or a "
        "movement was lost. No constraint can enforce this.",
        expectation=lambda _th, _scope: gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=unexpected_rows_query(
                """
                SELECT product_id, warehouse_id, s.current_stock,
                       coalesce(m.applied_sum, 0) AS applied_sum, coalesce(m.movements, 0) AS movements,
                       s.current_stock - coalesce(m.applied_sum, 0) AS difference
                FROM {batch} s
                FULL JOIN (
                    SELECT product_id, warehouse_id, sum(quantity_change) AS applied_sum,
                           count(*) AS movements
                    FROM {events} WHERE status = 'applied' GROUP BY 1, 2
                ) m USING (product_id, warehouse_id)
                WHERE s.current_stock IS DISTINCT FROM coalesce(m.applied_sum, 0)
                ORDER BY product_id, warehouse_id
                """,
                events=tables.INVENTORY_EVENTS,
            )
        ),
        threshold=zero("slots where current_stock ≠ sum of applied movements"),
        why_sql="It reconciles two tables (stock against the sum of applied movements per slot); GX's "
        "built-in Expectations each look at one table.",
    ),
)
