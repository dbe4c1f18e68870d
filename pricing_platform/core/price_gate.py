"""The competitor price gate: which competitor observations are trusted for decisions.

One SQL fragment, used by the pricing engine's input query (pricing/cycle.py) and the undercut alert
(alerting/rules.py), so neither prices from nor alerts on a price the other would call a scrape error.
"""

from __future__ import annotations

from psycopg import sql

from pricing_platform.core import tables

# A competitor's newest observation is held back when it jumped more than PRICING_GATE_JUMP_PCT from that
# pair's recent median (the observations before it, kept by ingest: migration 0015) or, with three or more
# competitors, lies more than PRICING_GATE_MARKET_PCT from the median of the product's competitor prices,
# until a second observation confirms it (the one before it within PRICING_GATE_CONFIRM_PCT). A scrape
# error (×10, ÷10) is never priced from; a real promotion is priced from at its second observation.
GATE_SQL = sql.SQL(
    """
    SELECT l.product_id, l.competitor_name, l.competitor_price, l.event_time, l.event_id,
           (coalesce(abs(l.competitor_price / nullif(l.recent_median, 0) - 1) * 100
                     > %(gate_jump_pct)s, false)
            OR coalesce(m.competitors >= 3
                        AND abs(l.competitor_price / nullif(m.median, 0) - 1) * 100 > %(gate_market_pct)s,
                        false))
           AND NOT coalesce(abs(l.competitor_price / nullif(l.previous_price, 0) - 1) * 100
                            <= %(gate_confirm_pct)s, false) AS held
    FROM {latest} l
    JOIN (
        SELECT product_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY competitor_price) AS median,
               count(*) AS competitors
        FROM {latest}
        GROUP BY product_id
    ) m USING (product_id)
    """
).format(latest=sql.Identifier(tables.COMPETITOR_PRICES_LATEST))


def gate_params(jump_pct: float, market_pct: float, confirm_pct: float) -> dict[str, float]:
    """GATE_SQL's parameters (PRICING_GATE_*)."""
    return {"gate_jump_pct": jump_pct, "gate_market_pct": market_pct, "gate_confirm_pct": confirm_pct}
