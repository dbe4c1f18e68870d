-- Daily funnel per category, counted in sessions.
--
-- Attribution (int_session_funnel): a session belongs to every category it reached through a product, on
-- the UTC date it started; its product-less page views count in `page_views` of the categories the session
-- went on to. A session that only ever saw product-less pages is kept in the 'unattributed' bucket, so the
-- day's traffic adds up and bounce traffic stays visible. A session that browsed two categories counts once
-- in each, so sessions summed across categories can exceed the day's distinct sessions; events (views, cart
-- adds, purchases, revenue) are never counted twice.
--
-- Rebuilt whole each run from int_session_funnel, which is kept incrementally (one row per session and
-- category, a fraction of the events): a late event can move a session to another day, and a day rebuilt
-- from the session table is always exactly the sessions that start on it.
with attributed as (
    select * from {{ ref('int_session_funnel') }}
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
