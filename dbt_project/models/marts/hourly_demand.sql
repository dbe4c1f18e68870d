-- Demand per UTC hour and category: product views, cart adds, purchases and revenue, with the hour of day
-- and ISO day of week for seasonality charts. One row per hour × category with any product activity
-- (product-less page views carry no category and are not demand for one).
select
    event_hour,
    event_date,
    hour_of_day,
    day_of_week,
    category,
    count(*) filter (where event_type = 'product_view') as product_views,
    count(*) filter (where event_type = 'add_to_cart') as cart_adds,
    count(*) filter (where event_type = 'purchase') as purchases,
    sum(revenue)::numeric(16, 2) as revenue,
    count(distinct user_id) filter (where event_type = 'purchase') as buyers,
    round(
        (count(*) filter (where event_type = 'purchase'))::numeric
        / nullif(count(*) filter (where event_type = 'product_view'), 0),
        4
    ) as view_to_purchase_rate
from {{ ref('stg_clickstream') }}
where category is not null
group by event_hour, event_date, hour_of_day, day_of_week, category
