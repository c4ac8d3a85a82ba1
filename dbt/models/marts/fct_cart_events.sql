{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_id',
        on_schema_change='fail',
        post_hook="
            update {{ this }} as cart_events
            set customer_id = stitched.customer_id
            from (
                select
                    web_events.event_id,
                    coalesce(web_events.customer_id, sessions.customer_id) as customer_id
                from {{ ref('fct_web_events') }} as web_events
                left join {{ ref('fct_web_sessions') }} as sessions using (session_id)
            ) as stitched
            where cart_events.event_id = stitched.event_id
                and cart_events.customer_id is distinct from stitched.customer_id
        ",
    )
}}

with

web_events as (
    select * from {{ ref('fct_web_events') }}
    where {{ partition_window_filter('partition_date') }}
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
    where web_events.event_type in ('add_to_cart', 'remove_from_cart', 'checkout_started')
)

select * from final
