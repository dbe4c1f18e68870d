"""Checks of `competitor_prices`: every competitor price observation."""

from __future__ import annotations

from pricing_platform.core import catalog, tables
from pricing_platform.core.catalog import Stream
from pricing_platform.quality.checks.streams import no_future_timestamps, stream_checks
from pricing_platform.quality.framework import QualityCheck, Severity, query, zero

CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck(
        name="competitor_prices_positive",
        asset=tables.COMPETITOR_PRICES,
        severity=Severity.ERROR,
        description="Every observation has a positive competitor price and our price. The columns "
        "have no CHECK constraint (products has one); ingest validates it.",
        query=query(
            "SELECT event_id, product_id, competitor_name, competitor_price, our_price, event_time "
            "FROM {prices} WHERE competitor_price <= 0 OR our_price <= 0 "
            "ORDER BY event_time DESC, event_id",
            prices=tables.COMPETITOR_PRICES,
        ),
        threshold=zero("observations with competitor_price ≤ 0 or our_price ≤ 0"),
    ),
    QualityCheck(
        name="competitor_price_difference_within_bound",
        asset=tables.COMPETITOR_PRICES,
        severity=Severity.WARN,
        description="No competitor price is further from ours than the plausible bound: beyond it the "
        "observation is most likely a scraping or unit error (cents, another currency, a bundle), "
        "and it would drag the competitor average the pricing engine follows.",
        query=query(
            "SELECT event_id, product_id, competitor_name, competitor_price, our_price, "
            "price_difference_pct, event_time FROM {prices} "
            "WHERE abs(price_difference_pct) > %(max_pct)s "
            "ORDER BY abs(price_difference_pct) DESC, event_time DESC, event_id",
            prices=tables.COMPETITOR_PRICES,
        ),
        params=lambda th: {"max_pct": th.max_price_difference_pct},
        threshold=lambda th: f"0 observations with |price_difference_pct| > {th.max_price_difference_pct:g}",
    ),
    QualityCheck(
        name="competitor_names_known",
        asset=tables.COMPETITOR_PRICES,
        severity=Severity.ERROR,
        description=f"Every observation names a known competitor ({', '.join(catalog.COMPETITORS)}). No "
        "constraint enforces it; ingest validates it.",
        query=query(
            "SELECT event_id, product_id, competitor_name, competitor_price, event_time FROM {prices} "
            "WHERE NOT (competitor_name = ANY(%(competitors)s)) ORDER BY event_time DESC, event_id",
            prices=tables.COMPETITOR_PRICES,
        ),
        params=lambda _: {"competitors": list(catalog.COMPETITORS)},
        threshold=zero("observations naming an unknown competitor"),
    ),
    no_future_timestamps(
        "competitor_prices_no_future_timestamps",
        tables.COMPETITOR_PRICES,
        "No price observation is stamped further in the future than ingest allows "
        "(INGEST_MAX_FUTURE_SKEW_S); such a price would stay the latest one until its time passed.",
    ),
    *stream_checks(Stream.COMPETITOR, tables.COMPETITOR_PRICES, "competitor"),
)
