"""Checks of `competitor_prices_latest`: the newest price per product × competitor."""

from __future__ import annotations

from pricing_platform.core import tables
from pricing_platform.quality.framework import QualityCheck, Severity, query, zero

CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck(
        name="competitor_latest_unique",
        asset=tables.COMPETITOR_PRICES_LATEST,
        severity=Severity.ERROR,
        description="At most one latest price per product × competitor. Also guaranteed today by the "
        "primary key; kept against schema drift, replicas and manual loads (a duplicate would count "
        "a competitor twice in the pricing engine's average).",
        query=query(
            "SELECT product_id, competitor_name, count(*) AS rows_found, "
            "array_agg(competitor_price ORDER BY competitor_price) AS prices "
            "FROM {latest} GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 1, 2",
            latest=tables.COMPETITOR_PRICES_LATEST,
        ),
        threshold=zero("product × competitor pairs with more than one latest row"),
        enforced_by="PRIMARY KEY (product_id, competitor_name) on competitor_prices_latest",
    ),
    QualityCheck(
        name="competitor_latest_matches_newest_observation",
        asset=tables.COMPETITOR_PRICES_LATEST,
        severity=Severity.ERROR,
        description="Each latest row is the newest observation of its product × competitor in "
        "competitor_prices (by event time), and every observed pair has a latest row: the latest "
        "table only moves forward. No constraint can enforce this.",
        query=query(
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
            FROM {latest} l FULL JOIN newest n USING (product_id, competitor_name)
            WHERE l.event_time IS DISTINCT FROM n.newest_observed
            ORDER BY product_id, competitor_name
            """,
            prices=tables.COMPETITOR_PRICES,
            latest=tables.COMPETITOR_PRICES_LATEST,
        ),
        threshold=zero("pairs whose latest row is not the newest observation"),
    ),
)
