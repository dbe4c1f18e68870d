"""Checks of `pricing_recommendations`: the newest cycle the pricing engine appended. Its ERROR checks are
blocking (`QualityCheck.blocking`)."""

from __future__ import annotations

import textwrap

from psycopg import sql

from pricing_platform.core import tables
from pricing_platform.core.decisions import RECOMMENDATIONS
from pricing_platform.quality.framework import QualityCheck, Severity, zero


def newest_cycle_rows(condition: str) -> sql.Composed:
    """Rows of the newest pricing cycle (the one a pricing materialisation has just appended; readers see
    it through pricing_recommendations_latest) meeting `condition`, a static SQL predicate on `r`. Older
    cycles were checked when they were the newest."""
    return sql.SQL(
        textwrap.dedent(
            """
            SELECT r.recommendation_id, r.cycle_id, r.product_id, r.recommendation, r.recommended_price,
                   r.confidence, r.created_at
            FROM {recs} r
            WHERE r.cycle_id = (
                SELECT cycle_id FROM {recs} ORDER BY created_at DESC, recommendation_id DESC LIMIT 1
            ) AND {condition}
            ORDER BY r.product_id
            """
        ).strip()
    ).format(
        recs=sql.Identifier(tables.PRICING_RECOMMENDATIONS),
        condition=sql.SQL(condition).format(products=sql.Identifier(tables.PRODUCTS)),
    )


CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck(
        name="recommendations_valid_action",
        asset=tables.PRICING_RECOMMENDATIONS,
        severity=Severity.ERROR,
        description=f"Every recommendation of the newest cycle is one of {', '.join(RECOMMENDATIONS)}. "
        "The column has no CHECK constraint.",
        query=newest_cycle_rows("NOT (r.recommendation = ANY(%(recommendations)s))"),
        params=lambda _: {"recommendations": list(RECOMMENDATIONS)},
        threshold=zero(f"rows of the newest cycle outside {'/'.join(RECOMMENDATIONS)}"),
    ),
    QualityCheck(
        name="recommendations_confidence_in_range",
        asset=tables.PRICING_RECOMMENDATIONS,
        severity=Severity.ERROR,
        description="Every confidence of the newest cycle lies in [0, 1]. The column is numeric(4, 3) "
        "with no CHECK constraint: anything from -9.999 to 9.999 is accepted.",
        query=newest_cycle_rows("NOT (r.confidence BETWEEN 0 AND 1)"),
        threshold=zero("rows of the newest cycle with confidence outside [0, 1]"),
    ),
    QualityCheck(
        name="recommendations_known_products",
        asset=tables.PRICING_RECOMMENDATIONS,
        severity=Severity.ERROR,
        description="Every recommendation of the newest cycle references a product in products. "
        "pricing_recommendations.product_id has no foreign key.",
        query=newest_cycle_rows("NOT EXISTS (SELECT 1 FROM {products} p WHERE p.product_id = r.product_id)"),
        threshold=zero("rows of the newest cycle naming a product missing from products"),
    ),
)
