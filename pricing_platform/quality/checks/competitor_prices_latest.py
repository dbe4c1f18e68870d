"""Checks of `competitor_prices_latest`: the newest price per product × competitor."""

from __future__ import annotations

from typing import Final

from pricing_platform.core import tables
from pricing_platform.quality.framework import (
    Dataset,
    QualityCheck,
    Severity,
    gxe,
    unexpected_rows_query,
    zero,
)

COMPETITOR_PRICES_LATEST: Final = Dataset(
    name=tables.COMPETITOR_PRICES_LATEST,
    table=tables.COMPETITOR_PRICES_LATEST,
    sample_columns=("product_id", "competitor_name", "competitor_price", "event_time"),
    bounded=True,
)

CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck(
        name="competitor_latest_unique",
        asset=tables.COMPETITOR_PRICES_LATEST,
        dataset=COMPETITOR_PRICES_LATEST,
        severity=Severity.ERROR,
        description="At most one latest price per product × competitor. Also guaranteed today by the "
        "primary key; kept against schema drift, replicas and manual loads (a duplicate would count "
        "a competitor twice in the pricing engine's average).",
        expectation=lambda _th, _scope: gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["product_id", "competitor_name"]
        ),
        threshold=zero("rows sharing a product × competitor pair with another row"),
        enforced_by="PRIMARY KEY (product_id, competitor_name) on competitor_prices_latest",
    ),
    QualityCheck(
        name="competitor_latest_matches_newest_observation",
        asset=tables.COMPETITOR_PRICES_LATEST,
        dataset=COMPETITOR_PRICES_LATEST,
        severity=Severity.ERROR,
        description="Each latest row is the newest observation of its product × competitor in "
        "competitor_prices (by event time), and every observed pair has a latest row: the latest "
        "table only moves forward. No constraint can enforce this.",
        expectation=lambda _th, _scope: gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=unexpected_rows_query(
                """
                WITH newest AS (
                    SELECT product_id, competitor_name, max(event_time) AS newest_observed
                    FROM {prices} GROUP BY 1, 2
                )
                SELECT product_id, competitor_name, l.event_time AS latest_event_time, n.newest_observed,
                       CASE WHEN l.event_time IS NULL THEN 'no latest row'
                            WHEN n.newest_observed IS NULL THEN 'no observation behind it'
                            WHEN l.event_time < n.newest_observed THEN 'behind the newest observation'
                            ELSE 'ahead of every observation' END AS problem
                FROM {batch} l FULL JOIN newest n USING (product_id, competitor_name)
                WHERE l.event_time IS DISTINCT FROM n.newest_observed
                ORDER BY product_id, competitor_name
                """,
                prices=tables.COMPETITOR_PRICES,
            )
        ),
        threshold=zero("pairs whose latest row is not the newest observation"),
        why_sql="It reconciles two tables (each latest row against the newest observation of its pair in "
        "competitor_prices); GX's built-in Expectations each look at one table.",
    ),
)
