{{
    config(
        materialized='incremental',
        unique_key=['product_id', 'session_id', 'user_id'],
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['product_id', 'session_id', 'user_id'], 'unique': True},
                 {'columns': ['landed_through']}],
    )
}}

-- Each product × session × shopper seen together in the clickstream, once: distinct sessions and visitors
-- per product are counts over this table, which only ever gains rows (a run adds the combinations of the
-- rows landed since the last one).
select
    product_id,
    session_id,
    user_id,
    max(ingested_at) as landed_through
from {{ ref('stg_clickstream') }}
where product_id is not null
{% if is_incremental() %}
    and ingested_at >= {{ landed_since() }}
{% endif %}
group by product_id, session_id, user_id
