{#- Incremental models pick up rows by landing time (ingested_at), never by event time: the event contract
    accepts any past timestamp, so a late event can belong to any hour or day. A run re-reads every row
    that landed no earlier than the newest landing the model already holds (`landed_through`) minus the
    lookback (var incremental_lookback_s, from DBT_INCREMENTAL_LOOKBACK_S), so an ingest transaction that
    started before that newest row but committed after the previous run is still seen. Each model
    recomputes the keys those rows touch from all of their rows, so reading a row twice changes nothing. -#}
{% macro landed_since() -%}
    (select coalesce(max(landed_through), '-infinity'::timestamptz)
            - make_interval(secs => {{ var('incremental_lookback_s') }})
     from {{ this }})
{%- endmacro %}

{#- `spans_sql` selects (lo, hi) event-time spans; returns a condition on `column` covering them, merged into
    runs of whole UTC hours, one index range each (a late event a week back adds one more range, not the
    week in between). Runs the query when the model is built; `false` when it finds nothing. -#}
{% macro event_time_in_hours_of(spans_sql, column='event_time') -%}
    {%- set ranges_sql -%}
        with spans as ({{ spans_sql }}),
        hours as (
            select distinct generate_series(
                date_trunc('hour', lo, 'UTC'), date_trunc('hour', hi, 'UTC'), interval '1 hour'
            ) as hour
            from spans
        ),
        runs as (
            select hour, hour - (row_number() over (order by hour)) * interval '1 hour' as run from hours
        )
        select min(hour) as lo, max(hour) + interval '1 hour' as hi from runs group by run order by 1
    {%- endset -%}
    {%- set ranges = run_query(ranges_sql).rows if execute else [] -%}
    ({%- for lo, hi in ranges -%}
        ({{ column }} >= '{{ lo.isoformat() }}'::timestamptz and {{ column }} < '{{ hi.isoformat() }}'::timestamptz)
        {%- if not loop.last %} or {% endif -%}
    {%- else -%}
        false
    {%- endfor -%})
{%- endmacro %}

{#- The clickstream rows of every UTC hour in which a row landed since `landed_since()` (a late event
    reopens its own hour, wherever it lies). -#}
{% macro clickstream_of_touched_hours() -%}
    select *
    from {{ ref('stg_clickstream') }}
    where {{ event_time_in_hours_of(
        "select event_time as lo, event_time as hi from " ~ ref('stg_clickstream')
        ~ " where ingested_at >= " ~ landed_since()
    ) }}
{%- endmacro %}
