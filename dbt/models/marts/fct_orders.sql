{{
    config(
        materialized='incremental',
        unique_key='order_id',
        post_hook="{{ restitch_customers('shop_customers', 'shop_customer_id') }}",
    )
}}

with

order_lines as (
    select * from {{ ref('fct_order_lines') }}
),

orders_in_window as (
    -- every order with a line delivered in the window, as fct_order_lines selects its lines:
    -- a line re-sent on a later day carries that day's partition_date, and the order must
    -- still be rebuilt when its first day is re-run
    select distinct order_id
    from {{ ref('stg_cleaned__order_lines') }}
    where {{ partition_window_filter('partition_date') }}
),

lines_of_orders as (
    -- every line of a touched order, including lines delivered on other days
    select order_lines.*
    from order_lines
    semi join orders_in_window using (order_id)
),

final as (
    select
        order_id,
        any_value(customer_id) as customer_id,
        any_value(shop_customer_id) as shop_customer_id,
        min(ordered_at) as ordered_at,
        cast(timezone('UTC', min(ordered_at)) as date) as order_date_key,
        case when count(distinct status) = 1 then any_value(status) else 'mixed' end as status,
        bool_or(is_revenue) as is_revenue,
        count(*) as line_count,
        cast(coalesce(sum(quantity) filter (where is_revenue), 0) as bigint) as item_quantity,
        min(currency) as currency,
        cast(coalesce(sum(line_amount) filter (where is_revenue), 0) as decimal(18, 2))
            as order_amount,
        cast(
            coalesce(sum(line_amount_reporting) filter (where is_revenue), 0) as decimal(18, 2)
        ) as order_amount_reporting,
        max(partition_date) as partition_date,
        min(first_partition_date) as first_partition_date
    from lines_of_orders
    group by order_id
)

select * from final
