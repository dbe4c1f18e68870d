-- One row per catalog product: traffic and revenue from the clickstream (all time and the last 24 h at
-- build time), stock on hand across warehouses, units sold and sell-through.
--
-- Rebuilt whole each run (30 rows; the 24-hour figures move with the clock).
with products as (
    select * from {{ ref('stg_products') }}
),

-- The clickstream side comes from incremental intermediate tables (counters per product and hour, distinct
-- product × session × shopper combinations), so a run reads a few thousand rows instead of every event.
cutoff as (
    -- the last 24 hours: whole hours from int_product_hours, the hour the window starts in from the events
    select now() - interval '24 hours' as since,
           date_trunc('hour', now() - interval '24 hours', 'UTC') + interval '1 hour' as whole_hours_from
),

hours as (
    select
        h.product_id,
        sum(h.product_views)::bigint as product_views,
        sum(h.cart_adds)::bigint as cart_adds,
        sum(h.cart_removes)::bigint as cart_removes,
        sum(h.purchases)::bigint as purchases,
        sum(h.revenue) as revenue,
        (sum(h.purchases) filter (where h.event_hour >= c.whole_hours_from))::bigint as purchases_whole_hours,
        sum(h.revenue) filter (where h.event_hour >= c.whole_hours_from) as revenue_whole_hours,
        max(h.last_event_at) as last_event_at
    from {{ ref('int_product_hours') }} as h
    cross join cutoff as c
    group by h.product_id
),

window_start as (
    select
        e.product_id,
        count(*) filter (where e.event_type = 'purchase') as purchases,
        sum(e.revenue) as revenue
    from {{ ref('stg_clickstream') }} as e
    cross join cutoff as c
    where e.event_time > c.since and e.event_time < c.whole_hours_from and e.product_id is not null
    group by e.product_id
),

audience as (
    select product_id, count(distinct session_id) as sessions, count(distinct user_id) as visitors
    from {{ ref('int_product_sessions') }}
    group by product_id
),

traffic as (
    select
        h.product_id,
        h.product_views,
        h.cart_adds,
        h.cart_removes,
        h.purchases,
        h.revenue,
        coalesce(h.purchases_whole_hours, 0) + coalesce(w.purchases, 0) as purchases_last_24h,
        coalesce(h.revenue_whole_hours, 0) + coalesce(w.revenue, 0) as revenue_last_24h,
        a.sessions,
        a.visitors,
        h.last_event_at
    from hours as h
    left join window_start as w on h.product_id = w.product_id
    left join audience as a on h.product_id = a.product_id
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
