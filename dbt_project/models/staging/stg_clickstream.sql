-- One row per shopper event, typed and renamed, with calendar attributes in UTC (the platform's clock).
with source as (
    select * from {{ source('raw', 'clickstream_events') }}
)

select
    event_id,
    user_id,
    session_id,
    event_type,
    product_id,
    product_name,
    product_category as category,
    product_price as price,
    device_type,
    event_time,
    (event_time at time zone 'UTC')::date as event_date,
    date_trunc('hour', event_time, 'UTC') as event_hour,
    extract(hour from event_time at time zone 'UTC')::integer as hour_of_day,
    -- ISO: 1 = Monday … 7 = Sunday
    extract(isodow from event_time at time zone 'UTC')::integer as day_of_week,
    event_type = 'purchase' as is_purchase,
    case when event_type = 'purchase' then product_price else 0 end::numeric(12, 2) as revenue,
    ingested_at
from source
