-- Daily funnel per category, counted in sessions.
--
-- Attribution: a session belongs to every category it reached through a product (a product page view, a
-- product view, a cart event or a purchase), on the UTC date it started. Its product-less page views do
-- not carry a category, so they are never grouped on their own (null) category: they count in
-- `page_views` of the categories the session went on to. A session that only ever saw product-less pages
-- is kept in the 'unattributed' bucket, so the day's traffic adds up and bounce traffic stays visible.
-- A session that browsed two categories counts once in each, so sessions summed across categories can
-- exceed the day's distinct sessions; events (views, cart adds, purchases, revenue) are never counted twice.
with events as (
    select * from {{ ref('stg_clickstream') }}
),

sessions as (
    select
        session_id,
        (min(event_time) at time zone 'UTC')::date as session_date,
        count(*) filter (where event_type = 'page_view') as page_views
    from events
    group by session_id
),

session_categories as (
    select
        session_id,
        category,
        count(*) filter (where event_type = 'product_view') as product_views,
        count(*) filter (where event_type = 'add_to_cart') as cart_adds,
        count(*) filter (where event_type = 'purchase') as purchases,
        sum(revenue) as revenue
    from events
    where category is not null
    group by session_id, category
),

attributed as (
    select
        s.session_id,
        s.session_date,
        coalesce(sc.category, '{{ unattributed_category() }}') as category,
        s.page_views,
        coalesce(sc.product_views, 0) as product_views,
        coalesce(sc.cart_adds, 0) as cart_adds,
        coalesce(sc.purchases, 0) as purchases,
        coalesce(sc.revenue, 0) as revenue
    from sessions as s
    left join session_categories as sc on s.session_id = sc.session_id
),

daily as (
    select
        session_date as event_date,
        category,
        count(*) as sessions,
        count(*) filter (where product_views > 0) as viewing_sessions,
        count(*) filter (where cart_adds > 0) as cart_sessions,
        count(*) filter (where purchases > 0) as converted_sessions,
        sum(page_views) as page_views,
        sum(product_views) as product_views,
        sum(cart_adds) as cart_adds,
        sum(purchases) as purchases,
        sum(revenue)::numeric(16, 2) as revenue
    from attributed
    group by session_date, category
)

select
    event_date,
    category,
    sessions,
    viewing_sessions,
    cart_sessions,
    converted_sessions,
    page_views,
    product_views,
    cart_adds,
    purchases,
    revenue,
    round(converted_sessions::numeric / sessions, 4) as session_conversion_rate,
    round(cart_sessions::numeric / sessions, 4) as cart_rate,
    round(converted_sessions::numeric / nullif(cart_sessions, 0), 4) as cart_to_purchase_rate,
    round(revenue / nullif(purchases, 0), 2) as average_order_value
from daily
