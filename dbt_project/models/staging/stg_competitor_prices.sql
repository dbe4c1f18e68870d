-- The newest observed price per product × competitor: the same rows the pricing engine reads
-- (competitor_prices_latest only moves forward in event time, so a late observation never replaces a newer
-- one), with its age and whether the engine still counts it as fresh (PRICING_STALENESS_S).
with source as (
    select * from {{ source('raw', 'competitor_prices_latest') }}
)

select
    product_id || '/' || competitor_name as product_competitor_key,
    product_id,
    competitor_name,
    event_id as observation_id,
    competitor_price,
    our_price as our_price_when_observed,
    price_difference,
    price_difference_pct,
    event_time as observed_at,
    extract(epoch from now() - event_time)::integer as age_s,
    now() - event_time <= make_interval(secs => {{ var('pricing_staleness_s') }}) as is_fresh
from source
