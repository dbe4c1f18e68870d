-- The catalog as analytics sees it: our price now, cost, and the unit margin at that price.
select
    product_id,
    product_name,
    category,
    base_price,
    current_price,
    unit_cost,
    current_price - unit_cost as unit_margin,
    round((current_price - unit_cost) / current_price * 100, 2) as margin_pct,
    updated_at
from {{ source('raw', 'products') }}
