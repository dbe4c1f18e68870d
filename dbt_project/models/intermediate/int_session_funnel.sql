{{
    config(
        materialized='incremental',
        unique_key='session_id',
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['session_id']}, {'columns': ['landed_through']}],
    )
}}

-- One row per session and category it reached through a product (or 'unattributed' when it reached none):
-- the session-level step of daily_funnel_metrics, kept incrementally. A run recomputes every session that
-- had a row land since the last one, from all of that session's events (a late event can change its start
-- date and its categories).
--
-- Attribution: a session belongs to every category it reached through a product (a product page view, a
-- product view, a cart event or a purchase), on the UTC date it started. Its product-less page views do
-- not carry a category, so they count in `page_views` of the categories the session went on to.
with events as (
    select * from {{ ref('stg_clickstream') }}
    {% if is_incremental() %}
    -- The touched sessions' events: the rows that landed since the last run, and the events the session
    -- already had, which lie between its stored first and last event times (no index on session_id: the
    -- event-time index narrows the read to those hours).
    {% set touched -%}
        select session_id, event_time from {{ ref('stg_clickstream') }} where ingested_at >= {{ landed_since() }}
    {%- endset %}
    where session_id in (select session_id from ({{ touched }}) as t)
      and {{ event_time_in_hours_of(
            "select t.event_time as lo, t.event_time as hi from (" ~ touched ~ ") as t
             union all
             select f.session_start_at, f.session_end_at from " ~ this ~ " as f
             where f.session_id in (select session_id from (" ~ touched ~ ") as t2)"
        ) }}
    {% endif %}
),

sessions as (
    select
        session_id,
        (min(event_time) at time zone 'UTC')::date as session_date,
        min(event_time) as session_start_at,
        max(event_time) as session_end_at,
        count(*) filter (where event_type = 'page_view') as page_views,
        max(ingested_at) as landed_through
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
)

select
    s.session_id,
    s.session_date,
    s.session_start_at,
    s.session_end_at,
    coalesce(sc.category, '{{ unattributed_category() }}') as category,
    s.page_views,
    coalesce(sc.product_views, 0) as product_views,
    coalesce(sc.cart_adds, 0) as cart_adds,
    coalesce(sc.purchases, 0) as purchases,
    coalesce(sc.revenue, 0) as revenue,
    s.landed_through
from sessions as s
left join session_categories as sc on s.session_id = sc.session_id
