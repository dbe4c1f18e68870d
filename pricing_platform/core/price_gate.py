"""The competitor price gate: which competitor observations are trusted for decisions.

One SQL fragment, used by the pricing engine's input query (pricing/cycle.py) and the undercut alert
(alerting/rules.py), so neither prices from nor alerts on a price the other would call a scrape error.
"""

from __future__ import annotations

from psycopg import sql

from pricing_platform.core import tables

# A competitor's newest observation is held back when it jumped more than PRICING_GATE_JUMP_PCT from that
# pair's recent median (the observations before it, kept by ingest: migration 0015) or, with three or more
# competitors, lies more than PRICING_GATE_MARKET_PCT from the market: the mean of the product's competitor
# prices without the highest and the lowest (the median with three or four). It stays held until a second
# observation confirms it (the one before it within PRICING_GATE_CONFIRM_PCT). A scrape error (×10, ÷10) is
# never priced from; a real promotion is priced from at its second observation. Window aggregates over the
# primary key's order, not a per-product median: at 100,000 products × 3 competitors a grouped
# percentile_cont tripled the engine's input query; the comparisons run in floats (cents are far inside
# their precision).
GATE_SQL = sql.SQL(
    """
    SELECT product_id, competitor_name, competitor_price, event_time, event_id,
           (coalesce(abs(price / nullif(recent_median, 0) - 1) * 100 > %(gate_jump_pct)s, false)
            OR coalesce(competitors >= 3 AND abs(price / nullif(market, 0) - 1) * 100 > %(gate_market_pct)s,
                        false))
           AND NOT coalesce(abs(price / nullif(previous_price, 0) - 1) * 100 <= %(gate_confirm_pct)s, false)
           AS held
    FROM (
        SELECT product_id, competitor_name, competitor_price, event_time, event_id,
               competitor_price::float8 AS price, recent_median::float8 AS recent_median,
               previous_price::float8 AS previous_price, count(*) OVER product AS competitors,
               (sum(competitor_price::float8) OVER product - max(competitor_price::float8) OVER product
                - min(competitor_price::float8) OVER product) / nullif(count(*) OVER product - 2, 0) AS market
        FROM {latest}
        WINDOW product AS (PARTITION BY product_id)
    ) l
    """
).format(latest=sql.Identifier(tables.COMPETITOR_PRICES_LATEST))


def gate_params(jump_pct: float, market_pct: float, confirm_pct: float) -> dict[str, float]:
    """GATE_SQL's parameters (PRICING_GATE_*)."""
    return {"gate_jump_pct": jump_pct, "gate_market_pct": market_pct, "gate_confirm_pct": confirm_pct}
