{#- A plain table, like fct_web_sessions: rebuilt on every run, so an anonymous cart action
    always carries its session's current customer. -#}

with

web_events as (
    select * from {{ ref('fct_web_events') }}
    where event_type in ('add_to_cart', 'remove_from_cart', 'checkout_started')
),

sessions as (
    select session_id, customer_id from {{ ref('fct_web_sessions') }}
),

final as (
    select
        web_events.event_id,
        web_events.occurred_at,
        web_events.event_date_key,
        web_events.event_type as cart_action,
        -- a cart built anonymously belongs to whoever identified themselves in the session
        coalesce(web_events.customer_id, sessions.customer_id) as customer_id,
        web_events.session_id,
        web_events.visitor_id,
        web_events.sku,
        web_events.quantity,
        web_events.price,
        cast(web_events.quantity * web_events.price as decimal(18, 2)) as cart_value,
        web_events.partition_date
    from web_events
    left join sessions using (session_id)
)

select * from final
