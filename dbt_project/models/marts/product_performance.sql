-- One row per catalog product: traffic and revenue from the clickstream (all time and the last 24 h at
-- build time), stock on hand across warehouses, units sold and sell-through.
with products as (
    select * from {{ ref('stg_products') }}
),

traffic as (
    select
        product_id,
        count(*) filter (where event_type = 'product_view') as product_views,
        count(*) filter (where event_type = 'add_to_cart') as cart_adds,
        count(*) filter (where event_type = 'remove_from_cart') as cart_removes,
        count(*) filter (where event_type = 'purchase') as purchases,
        sum(revenue) as revenue,
        count(*) filter (where event_type = 'purchase' and event_time > now() - interval '24 hours')
            as purchases_last_24h,
        coalesce(sum(revenue) filter (where event_time > now() - interval '24 hours'), 0) as revenue_last_24h,
        count(distinct session_id) as sessions,
        count(distinct user_id) as visitors,
        max(event_time) as last_event_at
    from {{ ref('stg_clickstream') }}
    where product_id is not null
    group by product_id
),

stock as (
    select
        product_id,
        sum(stock_on_hand) as stock_on_hand,
        count(*) filter (where is_out_of_stock) as warehouses_out_of_stock
    from {{ ref('stg_inventory_state') }}
    group by product_id
),

movements as (
    select
        product_id,
        coalesce(sum(absolute_quantity) filter (where movement_type = 'sale' and is_applied), 0) as units_sold,
        count(*) filter (where not is_applied) as rejected_movements
    from {{ ref('stg_inventory') }}
    group by product_id
)

select
    p.product_id,
    p.product_name,
    p.category,
    p.current_price,
    p.unit_cost,
    coalesce(t.product_views, 0) as product_views,
    coalesce(t.cart_adds, 0) as cart_adds,
    coalesce(t.cart_removes, 0) as cart_removes,
    coalesce(t.purchases, 0) as purchases,
    coalesce(t.revenue, 0)::numeric(16, 2) as revenue,
    -- what the purchases cost us at today's unit cost
    (coalesce(t.revenue, 0) - coalesce(t.purchases, 0) * p.unit_cost)::numeric(16, 2) as gross_profit,
    coalesce(t.purchases_last_24h, 0) as purchases_last_24h,
    coalesce(t.revenue_last_24h, 0)::numeric(16, 2) as revenue_last_24h,
    coalesce(t.sessions, 0) as sessions,
    coalesce(t.visitors, 0) as visitors,
    round(t.purchases::numeric / nullif(t.product_views, 0), 4) as view_to_purchase_rate,
    coalesce(s.stock_on_hand, 0) as stock_on_hand,
    coalesce(s.warehouses_out_of_stock, 0) as warehouses_out_of_stock,
    coalesce(m.units_sold, 0) as units_sold,
    round(m.units_sold::numeric / nullif(m.units_sold + s.stock_on_hand, 0), 4) as sell_through_rate,
    coalesce(m.rejected_movements, 0) as rejected_movements,
    t.last_event_at
from products as p
left join traffic as t on p.product_id = t.product_id
left join stock as s on p.product_id = s.product_id
left join movements as m on p.product_id = m.product_id
