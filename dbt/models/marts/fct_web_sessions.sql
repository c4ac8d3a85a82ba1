{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='session_id',
        on_schema_change='fail',
        post_hook="
            update {{ this }} as sessions
            set customer_id = stitched.customer_id
            from (
                select session_id, arg_max(customer_id, occurred_at) as customer_id
                from {{ ref('fct_web_events') }}
                where customer_id is not null
                group by session_id
            ) as stitched
            where sessions.session_id = stitched.session_id
                and sessions.customer_id is distinct from stitched.customer_id
        ",
    )
}}

with

web_events as (
    select * from {{ ref('fct_web_events') }}
),

sessions_in_window as (
    select distinct session_id
    from web_events
    where {{ partition_window_filter('partition_date') }}
),

events_of_sessions as (
    -- all events of a touched session: one that crossed midnight is rebuilt whole
    select web_events.*
    from web_events
    semi join sessions_in_window using (session_id)
),

final as (
    select
        session_id,
        any_value(visitor_id) as visitor_id,
        -- one identified event stitches the whole session (the latest wins)
        arg_max(customer_id, occurred_at) filter (where customer_id is not null) as customer_id,
        count(customer_id) = 0 as is_anonymous,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        cast(timezone('UTC', min(occurred_at)) as date) as session_date_key,
        cast(date_diff('second', min(occurred_at), max(occurred_at)) as bigint)
            as duration_seconds,
        count(*) as event_count,
        count(*) filter (where event_type = 'page_view') as page_views,
        count(*) filter (where event_type = 'product_view') as product_views,
        count(*) filter (where event_type = 'add_to_cart') as cart_adds,
        bool_or(event_type = 'checkout_started') as has_checkout,
        bool_or(event_type = 'order_completed') as has_order,
        arg_min(url, occurred_at) as landing_url,
        arg_min(utm_source, occurred_at) as utm_source,
        arg_min(utm_campaign, occurred_at) as utm_campaign,
        arg_min(device_type, occurred_at) as device_type,
        min(partition_date) as partition_date
    from events_of_sessions
    group by session_id
)

select * from final
