"""Checks of `pricing_recommendations`, one pricing cycle at a time: each cycle is checked once, soon after
the engine appends it (by `recommendation_checks_sensor`, which records the verdict in the checked-cycle
table the marts read through), and `pricing-platform quality` checks the newest one. Its ERROR checks
are blocking (`QualityCheck.blocking`)."""

from __future__ import annotations

import textwrap
from typing import Final

from psycopg import sql

from pricing_platform.core import catalog, tables
from pricing_platform.core.decisions import RECOMMENDATIONS
from pricing_platform.quality.framework import Dataset, QualityCheck, Scope, Severity, gxe, zero


def cycle_rows(scope: Scope) -> str:
    """The rows of the cycle in `scope`, or of the newest cycle (the one the pricing engine has just
    appended; readers see it through pricing_recommendations_latest) when it names none."""
    if scope.cycle_id is not None:
        cycle: sql.Composable = sql.Literal(scope.cycle_id)
    else:
        cycle = sql.SQL(
            "(SELECT cycle_id FROM {recs} ORDER BY created_at DESC, recommendation_id DESC LIMIT 1)"
        ).format(recs=sql.Identifier(tables.PRICING_RECOMMENDATIONS))
    return (
        sql.SQL(
            textwrap.dedent(
                """
                SELECT recommendation_id, cycle_id, product_id, recommendation, recommended_price,
                       confidence, created_at
                FROM {recs} WHERE cycle_id = {cycle}
                """
            ).strip()
        )
        .format(recs=sql.Identifier(tables.PRICING_RECOMMENDATIONS), cycle=cycle)
        .as_string(None)
    )


PRICING_CYCLE: Final = Dataset(
    name="pricing_cycle",
    query=cycle_rows,
    sample_columns=("recommendation_id", "cycle_id", "product_id"),
)

CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck(
        name="recommendations_valid_action",
        asset=tables.PRICING_RECOMMENDATIONS,
        dataset=PRICING_CYCLE,
        severity=Severity.ERROR,
        description=f"Every recommendation of the cycle is one of {', '.join(RECOMMENDATIONS)}. "
        "The column has no CHECK constraint.",
        expectation=lambda _th, _scope: gxe.ExpectColumnValuesToBeInSet(
            column="recommendation", value_set=list(RECOMMENDATIONS)
        ),
        threshold=zero(f"rows of the cycle outside {'/'.join(RECOMMENDATIONS)}"),
    ),
    QualityCheck(
        name="recommendations_confidence_in_range",
        asset=tables.PRICING_RECOMMENDATIONS,
        dataset=PRICING_CYCLE,
        severity=Severity.ERROR,
        description="Every confidence of the cycle lies in [0, 1]. The column is numeric(4, 3) with no "
        "CHECK constraint: anything from -9.999 to 9.999 is accepted.",
        expectation=lambda _th, _scope: gxe.ExpectColumnValuesToBeBetween(
            column="confidence", min_value=0, max_value=1
        ),
        threshold=zero("rows of the cycle with confidence outside [0, 1]"),
    ),
    QualityCheck(
        name="recommendations_known_products",
        asset=tables.PRICING_RECOMMENDATIONS,
        dataset=PRICING_CYCLE,
        severity=Severity.ERROR,
        description="Every recommendation of the cycle names a catalog product, the set `products` is "
        "loaded from. pricing_recommendations.product_id has no foreign key.",
        expectation=lambda _th, _scope: gxe.ExpectColumnValuesToBeInSet(
            column="product_id", value_set=[p.product_id for p in catalog.PRODUCTS]
        ),
        threshold=zero("rows of the cycle naming a product outside the catalog"),
    ),
)
