{{
    config(
        materialized='incremental',
        unique_key='event_id',
        post_hook="{{ restitch_customers('web_events', 'customer_record_id') }}",
    )
}}

{%- set inactivity_minutes = var('session_inactivity_minutes') %}

with

web_events as (
    -- the window plus a lookback, so a session that began before midnight keeps its start
    select
        *,
        coalesce(anonymous_id, 'user:' || user_id, 'event:' || event_id) as visitor_id
    from {{ ref('stg_cleaned__web_events') }}
    where {{ partition_window_filter('partition_date', var('session_lookback_days')) }}
),

customer_records as (
    select * from {{ ref('int_customer_records_filtered_to_current') }}
    where record_source = 'web_events'
),

first_deliveries as (
    {{ first_deliveries('web_events', ref('stg_cleaned__web_events')) }}
),

gaps as (
    select
        *,
        lag(occurred_at) over (
            partition by visitor_id order by occurred_at, event_id
        ) as previous_occurred_at
    from first_deliveries
),

session_starts as (
    -- a new session begins after more than the inactivity limit without an event
    select
        *,
        cast(
            previous_occurred_at is null
            or occurred_at - previous_occurred_at > interval {{ inactivity_minutes }} minute
            as integer
        ) as is_session_start
    from gaps
),

numbered as (
    select
        *,
        sum(is_session_start) over (
            partition by visitor_id order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as visitor_session_number
    from session_starts
),

sessionized as (
    select
        *,
        first_value(occurred_at) over session_window as session_started_at,
        -- the same events give the same id in every run that sees the session's first event
        md5(visitor_id || '|' || first_value(event_id) over session_window) as session_id
    from numbered
    window session_window as (
        partition by visitor_id, visitor_session_number order by occurred_at, event_id
    )
),

in_window as (
    select * from sessionized
    where {{ partition_window_filter('partition_date') }}
),

final as (
    select
        in_window.event_id,
        in_window.occurred_at,
        cast(timezone('UTC', in_window.occurred_at) as date) as event_date_key,
        in_window.event_type,
        in_window.session_id,
        in_window.session_started_at,
        in_window.visitor_id,
        in_window.anonymous_id,
        in_window.user_id,
        -- a logged-in event belongs to the account; otherwise to whoever the device is
        case
            when in_window.user_id is not null then 'user:' || in_window.user_id
            when in_window.anonymous_id is not null then 'anon:' || in_window.anonymous_id
        end as customer_record_id,
        coalesce(user_records.customer_id, device_records.customer_id) as customer_id,
        {{ hash_email('in_window.email') }} as email_hash,
        in_window.url,
        in_window.sku,
        in_window.quantity,
        in_window.price,
        in_window.utm_source,
        in_window.utm_campaign,
        in_window.device_type,
        in_window.partition_date
    from in_window
    left join customer_records as user_records
        on user_records.source_record_id = 'user:' || in_window.user_id
    left join customer_records as device_records
        on device_records.source_record_id = 'anon:' || in_window.anonymous_id
)

select * from final
