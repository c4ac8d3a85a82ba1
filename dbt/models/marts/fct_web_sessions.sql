{#- A plain table, rebuilt from fct_web_events on every run: a late event can merge two
    sessions (or identity re-point their events), and a rebuild leaves no session behind that
    no event belongs to any more. -#}

with

web_events as (
    select * from {{ ref('fct_web_events') }}
),

final as (
    select
        session_id,
        any_value(visitor_id) as visitor_id,
        -- one identified event stitches the whole session (the latest wins)
        arg_max(customer_id, occurred_at) filter (where customer_id is not null) as customer_id,
        -- the visitor never logged in nor gave an email during the session, whatever identity
        -- knows about the device
        bool_and(user_id is null and email_hash is null) as is_anonymous,
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
    from web_events
    group by session_id
)

select * from final
