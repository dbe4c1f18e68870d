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
PRICING_CYCLE_CHECKS: Final = "pricing_cycle_checks"
PRICING_RECOMMENDATIONS_CHECKED: Final = "pricing_recommendations_checked"
INGEST_OFFSETS: Final = "ingest_offsets"
DEAD_LETTERS: Final = "dead_letters"
ALERTS: Final = "alerts"
ALERT_EVALUATIONS: Final = "alert_evaluations"
ALERT_NOTIFICATIONS: Final = "alert_notifications"
PRICE_CHANGES: Final = "price_changes"
PRICE_CHANGE_OUTBOX: Final = "price_change_outbox"
PRICE_FEED_RELAYS: Final = "price_feed_relays"
INGEST_THROUGHPUT: Final = "ingest_throughput"
ANALYTICS_FUNNEL_STAGES: Final = "analytics_funnel_stages"
ANALYTICS_FUNNEL_BREAKDOWN: Final = "analytics_funnel_breakdown"
ANALYTICS_SESSION_PROFILES: Final = "analytics_session_profiles"
ANALYTICS_PRICE_POSITION: Final = "analytics_price_position"
ANALYTICS_COMPETITOR_LANDSCAPE: Final = "analytics_competitor_landscape"
ANALYTICS_ELASTICITY_SUMMARY: Final = "analytics_elasticity_summary"
ANALYTICS_RFM_CUSTOMERS: Final = "analytics_rfm_customers"
ANALYTICS_RFM_SEGMENTS: Final = "analytics_rfm_segments"
ANALYTICS_DEMAND_HOURLY: Final = "analytics_demand_hourly"
ANALYTICS_DEMAND_HEATMAP: Final = "analytics_demand_heatmap"
ANALYTICS_DEMAND_FORECAST: Final = "analytics_demand_forecast"
ANALYTICS_STOCKOUT_RISK: Final = "analytics_stockout_risk"
DEMAND_ESTIMATES: Final = "demand_estimates"
CATEGORY_POLICIES: Final = "category_policies"
POLICY_CHANGES: Final = "policy_changes"
PRICING_CYCLE_INPUTS: Final = "pricing_cycle_inputs"
PRICING_CONTROLS: Final = "pricing_controls"
AUTO_APPLY_OUTCOMES: Final = "auto_apply_outcomes"
RECOMMENDATION_REVIEWS: Final = "recommendation_reviews"
REVIEW_QUEUE: Final = "review_queue"
PRICE_EXPERIMENTS: Final = "price_experiments"
PRICE_EXPERIMENT_ARMS: Final = "price_experiment_arms"
PRICE_EXPERIMENT_BLOCKS: Final = "price_experiment_blocks"
SHOPPER_SESSIONS: Final = "shopper_sessions"
CART_ABANDONMENTS: Final = "cart_abandonments"
FUNNEL_MINUTES: Final = "funnel_minutes"
COMPETITOR_UNDERCUTS: Final = "competitor_undercuts"
STREAM_CLOCK_PROGRESS: Final = "stream_clock_progress"
# NOTIFY channel: an event-driven recommendation's commit announces the event id it cites.
RECOMMENDATIONS_CHANNEL: Final = "pricing_recommendations"

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
    PRICING_CYCLE_CHECKS,
    PRICING_RECOMMENDATIONS_CHECKED,
    INGEST_OFFSETS,
    DEAD_LETTERS,
    ALERTS,
    ALERT_EVALUATIONS,
    ALERT_NOTIFICATIONS,
    PRICE_CHANGES,
    PRICE_CHANGE_OUTBOX,
    PRICE_FEED_RELAYS,
    INGEST_THROUGHPUT,
    ANALYTICS_FUNNEL_STAGES,
    ANALYTICS_FUNNEL_BREAKDOWN,
    ANALYTICS_SESSION_PROFILES,
    ANALYTICS_PRICE_POSITION,
    ANALYTICS_COMPETITOR_LANDSCAPE,
    ANALYTICS_ELASTICITY_SUMMARY,
    ANALYTICS_RFM_CUSTOMERS,
    ANALYTICS_RFM_SEGMENTS,
    ANALYTICS_DEMAND_HOURLY,
    ANALYTICS_DEMAND_HEATMAP,
    ANALYTICS_DEMAND_FORECAST,
    ANALYTICS_STOCKOUT_RISK,
    DEMAND_ESTIMATES,
    CATEGORY_POLICIES,
    POLICY_CHANGES,
    PRICING_CYCLE_INPUTS,
    PRICING_CONTROLS,
    AUTO_APPLY_OUTCOMES,
    RECOMMENDATION_REVIEWS,
    REVIEW_QUEUE,
    PRICE_EXPERIMENTS,
    PRICE_EXPERIMENT_ARMS,
    PRICE_EXPERIMENT_BLOCKS,
    SHOPPER_SESSIONS,
    CART_ABANDONMENTS,
    FUNNEL_MINUTES,
    COMPETITOR_UNDERCUTS,
    STREAM_CLOCK_PROGRESS,
)

# dbt marts: built by dbt in the DBT_MARTS_SCHEMA schema, not by the migrations (a test checks each is a
# model of dbt_project/models/marts).
MART_DAILY_FUNNEL_METRICS: Final = "daily_funnel_metrics"
MART_PRODUCT_PERFORMANCE: Final = "product_performance"
MART_PRICING_ANALYSIS: Final = "pricing_analysis"
MART_HOURLY_DEMAND: Final = "hourly_demand"
MARTS: Final = (
    MART_DAILY_FUNNEL_METRICS,
    MART_PRODUCT_PERFORMANCE,
    MART_PRICING_ANALYSIS,
    MART_HOURLY_DEMAND,
)
