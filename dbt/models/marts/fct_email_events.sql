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

first_delivery_days as (
    -- the landing day each event of the window was first delivered on, across every day
    select event_id, min(partition_date) as first_partition_date
    from {{ ref('stg_cleaned__email_events') }}
    semi join email_events using (event_id)
    group by event_id
),

first_deliveries as (
    -- an event delivered again on a later day is the same event: the first delivery counts,
    -- and a repeat of an earlier day's event leaves that day's row as it is
    select email_events.*
    from email_events
    inner join first_delivery_days
        on email_events.event_id = first_delivery_days.event_id
        and email_events.partition_date = first_delivery_days.first_partition_date
    qualify row_number() over (
        partition by email_events.event_id
        order by
            email_events.partition_date,
            email_events.source_file,
            email_events.source_row_number
    ) = 1
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
