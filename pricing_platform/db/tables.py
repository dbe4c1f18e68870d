"""Names of the platform's PostgreSQL relations: code refers to these, never to string literals.

The DDL itself lives in the versioned migrations (`migrations/versions/`); a test checks that every name
here exists after migrating.
"""

from __future__ import annotations

from typing import Final

PRODUCTS: Final = "products"
INVENTORY_STATE: Final = "inventory_state"
INVENTORY_EVENTS: Final = "inventory_events"
CLICKSTREAM_EVENTS: Final = "clickstream_events"
PRODUCT_METRICS: Final = "product_metrics"
COMPETITOR_PRICES: Final = "competitor_prices"
COMPETITOR_PRICES_LATEST: Final = "competitor_prices_latest"
PRICING_RECOMMENDATIONS: Final = "pricing_recommendations"
PRICING_RECOMMENDATIONS_LATEST: Final = "pricing_recommendations_latest"
INGEST_OFFSETS: Final = "ingest_offsets"
DEAD_LETTERS: Final = "dead_letters"
ALERTS: Final = "alerts"

ALL: Final = (
    PRODUCTS,
    INVENTORY_STATE,
    INVENTORY_EVENTS,
    CLICKSTREAM_EVENTS,
    PRODUCT_METRICS,
    COMPETITOR_PRICES,
    COMPETITOR_PRICES_LATEST,
    PRICING_RECOMMENDATIONS,
    PRICING_RECOMMENDATIONS_LATEST,
    INGEST_OFFSETS,
    DEAD_LETTERS,
    ALERTS,
)
