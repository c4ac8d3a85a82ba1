{{
    config(
        materialized='incremental',
        unique_key='order_line_id',
        post_hook="{{ restitch_customers('shop_customers', 'shop_customer_id') }}",
    )
}}

with

order_lines as (
    select * from {{ ref('stg_cleaned__order_lines') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_filtered_to_current') }}
    where record_source = 'shop_customers'
),

lines_in_window as (
    -- selected by landing partition, not by ordered_at: day 0 carries a year of history and a
    -- status update re-sends an old line on a later day
    select distinct order_line_id
    from order_lines
    where {{ partition_window_filter('partition_date') }}
),

latest_versions as (
    -- the latest delivery of a line wins, so re-running an old partition never brings back a
    -- status the shop has since changed
    select
        order_lines.*,
        min(order_lines.partition_date) over (partition by order_line_id)
            as first_partition_date
    from order_lines
    semi join lines_in_window using (order_line_id)
    qualify row_number() over (
        partition by order_line_id
        order by partition_date desc, source_file desc, source_row_number desc
    ) = 1
),

final as (
    select
        latest_versions.order_line_id,
        latest_versions.order_id,
        latest_versions.line_number,
        customer_records.customer_id,
        latest_versions.shop_customer_id,
        latest_versions.sku,
        latest_versions.status,
        latest_versions.status not in ('cancelled', 'refunded') as is_revenue,
        latest_versions.quantity,
        latest_versions.unit_price,
        cast(latest_versions.quantity * latest_versions.unit_price as decimal(18, 2))
            as line_amount,
        latest_versions.currency,
        {{ to_reporting_currency(
            'latest_versions.quantity * latest_versions.unit_price', 'latest_versions.currency'
        ) }} as line_amount_reporting,
        latest_versions.ordered_at,
        cast(timezone('UTC', latest_versions.ordered_at) as date) as order_date_key,
        latest_versions.partition_date,
        latest_versions.first_partition_date
    from latest_versions
    left join customer_records
        on latest_versions.shop_customer_id = customer_records.source_record_id
)

select * from final
