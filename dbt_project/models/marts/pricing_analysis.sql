-- Where each product's price stands against the competitors' latest prices, and what the pricing engine
-- recommended most recently in a cycle whose blocking quality checks passed
-- (pricing_recommendations_checked: a cycle not checked yet, or withheld by a failed check, is never read).
-- Competitor statistics use fresh prices only, as the engine does; products without any fresh competitor
-- price are positioned 'no_fresh_data'.
with products as (
    select * from {{ ref('stg_products') }}
),

market as (
    select
        product_id,
        count(*) as competitors_observed,
        count(*) filter (where is_fresh) as competitors_fresh,
        min(competitor_price) filter (where is_fresh) as min_competitor_price,
        avg(competitor_price) filter (where is_fresh) as avg_competitor_price,
        max(competitor_price) filter (where is_fresh) as max_competitor_price,
        max(observed_at) as newest_observation_at
    from {{ ref('stg_competitor_prices') }}
    group by product_id
),

cheapest as (
    select distinct on (product_id) product_id, competitor_name as cheapest_competitor
    from {{ ref('stg_competitor_prices') }}
    where is_fresh
    order by product_id, competitor_price, competitor_name
),

below_us as (
    select c.product_id, count(*) as competitors_below_us
    from {{ ref('stg_competitor_prices') }} as c
    inner join products as p on c.product_id = p.product_id
    where c.is_fresh and c.competitor_price < p.current_price
    group by c.product_id
),

latest_recommendation as (
    select * from {{ source('raw', 'pricing_recommendations_checked') }}
)

select
    p.product_id,
    p.product_name,
    p.category,
    p.current_price,
    p.unit_cost,
    p.margin_pct as current_margin_pct,
    coalesce(m.competitors_observed, 0) as competitors_observed,
    coalesce(m.competitors_fresh, 0) as competitors_fresh,
    coalesce(b.competitors_below_us, 0) as competitors_below_us,
    m.min_competitor_price,
    round(m.avg_competitor_price, 2) as avg_competitor_price,
    m.max_competitor_price,
    ch.cheapest_competitor,
    m.newest_observation_at,
    round((p.current_price - m.avg_competitor_price) / m.avg_competitor_price * 100, 2) as price_gap_pct,
    round(p.current_price / m.avg_competitor_price * 100, 1) as price_index,
    case
        when m.competitors_fresh is null or m.competitors_fresh = 0 then 'no_fresh_data'
        when p.current_price < m.min_competitor_price then 'cheapest'
        when p.current_price > m.max_competitor_price then 'most_expensive'
        else 'within_range'
    end as price_position,
    r.recommendation,
    r.recommended_price,
    round((r.recommended_price - p.current_price) / p.current_price * 100, 2) as recommended_change_pct,
    round((r.recommended_price - p.unit_cost) / r.recommended_price * 100, 2) as recommended_margin_pct,
    r.confidence as recommendation_confidence,
    r.guardrail as recommendation_guardrail,
    r.reason as recommendation_reason,
    r.cycle_id as recommendation_cycle_id,
    r.created_at as recommended_at
from products as p
left join market as m on p.product_id = m.product_id
left join cheapest as ch on p.product_id = ch.product_id
left join below_us as b on p.product_id = b.product_id
left join latest_recommendation as r on p.product_id = r.product_id
