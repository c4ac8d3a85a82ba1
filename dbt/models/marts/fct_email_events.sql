{{
    config(
        materialized='incremental',
        unique_key='event_id',
        post_hook="{{ restitch_customers('email_events', 'email_hash', hash_email('source_record_id')) }}",
    )
}}

with

email_events as (
    select * from {{ ref('stg_cleaned__email_events') }}
    where {{ partition_window_filter('partition_date') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_filtered_to_current') }}
    where record_source = 'email_events'
),

first_deliveries as (
    {{ first_deliveries('email_events', ref('stg_cleaned__email_events')) }}
),

final as (
    select
        first_deliveries.event_id,
        first_deliveries.occurred_at,
        cast(timezone('UTC', first_deliveries.occurred_at) as date) as event_date_key,
        first_deliveries.event_type,
        first_deliveries.campaign_id,
        customer_records.customer_id,
        {{ hash_email('first_deliveries.email') }} as email_hash,
        first_deliveries.url,
        first_deliveries.partition_date
    from first_deliveries
    left join customer_records
        on first_deliveries.email = customer_records.source_record_id
)

select * from final
