"""Checks of `competitor_prices`: every competitor price observation."""

from __future__ import annotations

from typing import Final

from pricing_platform.core import catalog, tables
from pricing_platform.core.catalog import Stream
from pricing_platform.quality.checks.streams import no_future_timestamps, stream_checks
from pricing_platform.quality.framework import Dataset, QualityCheck, Severity, gxe, zero

COMPETITOR_PRICES: Final = Dataset(
    name=tables.COMPETITOR_PRICES,
    table=tables.COMPETITOR_PRICES,
    sample_columns=("event_id", "product_id", "competitor_name", "event_time"),
)


def positive(name: str, column: str, description: str) -> QualityCheck:
    return QualityCheck(
        name=name,
        asset=tables.COMPETITOR_PRICES,
        dataset=COMPETITOR_PRICES,
        severity=Severity.ERROR,
        description=description,
        expectation=lambda _th, _scope: gxe.ExpectColumnValuesToBeBetween(
            column=column, min_value=0, strict_min=True
        ),
        threshold=zero(f"observations with {column} ≤ 0"),
    )


CHECKS: tuple[QualityCheck, ...] = (
    positive(
        "competitor_prices_positive",
        "competitor_price",
        "Every observation has a positive competitor price. The column has no CHECK constraint (products "
        "has one); ingest validates it.",
    ),
    positive(
        "competitor_our_price_positive",
        "our_price",
        "Every observation records a positive price of ours, the base of price_difference_pct. The column "
        "has no CHECK constraint; ingest validates it.",
    ),
    QualityCheck(
        name="competitor_price_difference_within_bound",
        asset=tables.COMPETITOR_PRICES,
        dataset=COMPETITOR_PRICES,
        severity=Severity.WARN,
        description="No competitor price is further from ours than the plausible bound: beyond it the "
        "observation is most likely a scraping or unit error (cents, another currency, a bundle), "
        "and it would drag the competitor average the pricing engine follows.",
        expectation=lambda th, _: gxe.ExpectColumnValuesToBeBetween(
            column="price_difference_pct",
            min_value=-th.max_price_difference_pct,
            max_value=th.max_price_difference_pct,
        ),
        threshold=lambda th: f"0 observations with |price_difference_pct| > {th.max_price_difference_pct:g}",
    ),
    QualityCheck(
        name="competitor_names_known",
        asset=tables.COMPETITOR_PRICES,
        dataset=COMPETITOR_PRICES,
        severity=Severity.ERROR,
        description=f"Every observation names a known competitor ({', '.join(catalog.COMPETITORS)}). No "
        "constraint enforces it; ingest validates it.",
        expectation=lambda _th, _scope: gxe.ExpectColumnValuesToBeInSet(
            column="competitor_name", value_set=list(catalog.COMPETITORS)
        ),
        threshold=zero("observations naming an unknown competitor"),
    ),
    no_future_timestamps(
        "competitor_prices_no_future_timestamps",
        COMPETITOR_PRICES,
        "No price observation is stamped further in the future than ingest allows "
        "(INGEST_MAX_FUTURE_SKEW_S); such a price would stay the latest one until its time passed.",
    ),
    *stream_checks(Stream.COMPETITOR, tables.COMPETITOR_PRICES, "competitor"),
)
