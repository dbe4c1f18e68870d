{{
    config(
        materialized='incremental',
        unique_key='event_hour',
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['event_hour']}],
    )
}}

-- Clickstream counters per product and UTC hour, kept incrementally: a run recomputes every hour in which
-- a row landed since the last one (clickstream_of_touched_hours). product_performance adds them up.
with events as (
    {% if is_incremental() %}
    {{ clickstream_of_touched_hours() }}
    {% else %}
    select * from {{ ref('stg_clickstream') }}
    {% endif %}
)

select
    event_hour,
    product_id,
    count(*) filter (where event_type = 'product_view') as product_views,
    count(*) filter (where event_type = 'add_to_cart') as cart_adds,
    count(*) filter (where event_type = 'remove_from_cart') as cart_removes,
    count(*) filter (where event_type = 'purchase') as purchases,
    sum(revenue) as revenue,
    max(event_time) as last_event_at,
    max(ingested_at) as landed_through
from events
where product_id is not null
group by event_hour, product_id
