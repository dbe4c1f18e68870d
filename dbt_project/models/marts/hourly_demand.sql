{{
    config(
        materialized='incremental',
        unique_key='event_hour',
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['event_hour']}],
    )
}}

-- Demand per UTC hour and category: product views, cart adds, purchases and revenue, with the hour of day
-- and ISO day of week for seasonality charts. One row per hour × category with any product activity
-- (product-less page views carry no category and are not demand for one).
--
-- Incremental by hour: a run recomputes every hour in which a row landed since the last run (a late event
-- reopens its own hour), from all of that hour's events.
with events as (
    {% if is_incremental() %}
    {{ clickstream_of_touched_hours() }}
    {% else %}
    select * from {{ ref('stg_clickstream') }}
    {% endif %}
)

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
    ) as view_to_purchase_rate,
    max(ingested_at) as landed_through
from events
where category is not null
group by event_hour, event_date, hour_of_day, day_of_week, category
