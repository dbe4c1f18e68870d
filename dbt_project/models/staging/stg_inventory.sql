-- Every stock movement (applied or rejected), with its size regardless of direction.
with source as (
    select * from {{ source('raw', 'inventory_events') }}
)

select
    event_id as movement_id,
    product_id,
    warehouse_id,
    event_type as movement_type,
    quantity_change,
    abs(quantity_change) as absolute_quantity,
    case when quantity_change > 0 then 'in' else 'out' end as direction,
    status,
    status = 'applied' as is_applied,
    stock_after,
    reject_reason,
    event_time,
    (event_time at time zone 'UTC')::date as event_date,
    ingested_at
from source
