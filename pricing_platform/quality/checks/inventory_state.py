"""Checks of `inventory_state`: current stock per product × warehouse."""

from __future__ import annotations

from pricing_platform.core import catalog, tables
from pricing_platform.quality.framework import QualityCheck, Severity, query, zero

EXPECTED_SLOTS = len(catalog.PRODUCTS) * len(catalog.WAREHOUSES)

CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck(
        name="inventory_stock_not_negative",
        asset=tables.INVENTORY_STATE,
        severity=Severity.ERROR,
        description="No product × warehouse slot holds negative stock. Also guaranteed today by the "
        "CHECK constraint stock_not_negative; kept against schema drift, replicas and manual loads.",
        query=query(
            "SELECT product_id, warehouse_id, current_stock, updated_at FROM {state} "
            "WHERE current_stock < 0 ORDER BY current_stock, product_id, warehouse_id",
            state=tables.INVENTORY_STATE,
        ),
        threshold=zero("slots with current_stock < 0"),
        enforced_by="CHECK stock_not_negative (current_stock >= 0) on inventory_state",
    ),
    QualityCheck(
        name="inventory_slot_count_matches_catalog",
        asset=tables.INVENTORY_STATE,
        severity=Severity.ERROR,
        description=f"Exactly {EXPECTED_SLOTS} stock slots: one per catalog product × warehouse "
        f"({len(catalog.PRODUCTS)} × {len(catalog.WAREHOUSES)}). Lists each missing, duplicated or "
        "non-catalog slot. The primary key rules out duplicates today; nothing rules out missing or "
        "extra slots.",
        query=query(
            """
            WITH expected AS (
                SELECT * FROM unnest(%(product_ids)s::text[], %(warehouse_ids)s::text[])
                    AS e(product_id, warehouse_id)
            ), actual AS (
                SELECT product_id, warehouse_id, count(*) AS found FROM {state} GROUP BY 1, 2
            )
            SELECT product_id, warehouse_id, coalesce(a.found, 0) AS rows_found,
                   CASE WHEN e.product_id IS NULL THEN 'not in the catalog'
                        WHEN a.found IS NULL THEN 'missing'
                        ELSE 'duplicated' END AS problem
            FROM expected e FULL JOIN actual a USING (product_id, warehouse_id)
            WHERE e.product_id IS NULL OR a.found IS NULL OR a.found > 1
            ORDER BY product_id, warehouse_id
            """,
            state=tables.INVENTORY_STATE,
        ),
        params=lambda _: {
            "product_ids": [p.product_id for p in catalog.PRODUCTS for _ in catalog.WAREHOUSES],
            "warehouse_ids": [w for _ in catalog.PRODUCTS for w in catalog.WAREHOUSES],
        },
        threshold=lambda _: f"exactly {EXPECTED_SLOTS} rows, one per catalog product × warehouse",
        enforced_by="PRIMARY KEY (product_id, warehouse_id) rules out duplicates only",
    ),
    QualityCheck(
        name="inventory_stock_within_max",
        asset=tables.INVENTORY_STATE,
        severity=Severity.WARN,
        description="No slot holds implausibly much stock: a larger figure is almost always a mistyped "
        "receipt or adjustment (movements may be up to ±1,000,000 units by the contract).",
        query=query(
            "SELECT product_id, warehouse_id, current_stock, updated_at FROM {state} "
            "WHERE current_stock > %(max_stock)s ORDER BY current_stock DESC, product_id, warehouse_id",
            state=tables.INVENTORY_STATE,
        ),
        params=lambda th: {"max_stock": th.max_stock_per_slot},
        threshold=lambda th: f"0 slots with current_stock > {th.max_stock_per_slot:,}",
    ),
    QualityCheck(
        name="inventory_stock_equals_applied_movements",
        asset=tables.INVENTORY_STATE,
        severity=Severity.ERROR,
        description="Each slot's current_stock equals the sum of its applied movements in "
        "inventory_events (opening balances are movements too), and no movement belongs to a slot "
        "that does not exist. A difference means stock was written outside the ingest path or a "
        "movement was lost. No constraint can enforce this.",
        query=query(
            """
            SELECT product_id, warehouse_id, s.current_stock,
                   coalesce(m.applied_sum, 0) AS applied_sum, coalesce(m.movements, 0) AS movements,
                   s.current_stock - coalesce(m.applied_sum, 0) AS difference
            FROM {state} s
            FULL JOIN (
                SELECT product_id, warehouse_id, sum(quantity_change) AS applied_sum,
                       count(*) AS movements
                FROM {events} WHERE status = 'applied' GROUP BY 1, 2
            ) m USING (product_id, warehouse_id)
            WHERE s.current_stock IS DISTINCT FROM coalesce(m.applied_sum, 0)
            ORDER BY product_id, warehouse_id
            """,
            state=tables.INVENTORY_STATE,
            events=tables.INVENTORY_EVENTS,
        ),
        threshold=zero("slots where current_stock ≠ sum of applied movements"),
    ),
)
