-- Stock on hand per product × warehouse, as the ingest transaction maintains it (always the sum of the
-- applied movements; pricing_platform/quality checks that invariant on the raw table).
select
    product_id || '/' || warehouse_id as slot_key,
    product_id,
    warehouse_id,
    current_stock as stock_on_hand,
    current_stock = 0 as is_out_of_stock,
    updated_at as last_movement_at
from {{ source('raw', 'inventory_state') }}
