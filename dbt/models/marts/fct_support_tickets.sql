{{
    config(
        materialized='incremental',
        unique_key='ticket_id',
        post_hook="{{ restitch_customers('support_tickets', 'ticket_id') }}",
    )
}}

with

tickets as (
    select * from {{ ref('stg_cleaned__support_tickets') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_filtered_to_current') }}
    where record_source = 'support_tickets'
),

tickets_in_window as (
    select distinct ticket_id
    from tickets
    where {{ partition_window_filter('partition_date') }}
),

latest_versions as (
    -- a ticket is re-sent whenever it changes; its newest version across days wins
    select
        tickets.*,
        min(tickets.partition_date) over (partition by ticket_id) as first_partition_date
    from tickets
    semi join tickets_in_window using (ticket_id)
    qualify row_number() over (
        partition by ticket_id
        order by partition_date desc, updated_at desc, source_file desc, source_row_number desc
    ) = 1
),

final as (
    select
        latest_versions.ticket_id,
        customer_records.customer_id,
        {{ hash_email('latest_versions.requester_email') }} as requester_email_hash,
        latest_versions.opened_at,
        cast(timezone('UTC', latest_versions.opened_at) as date) as opened_date_key,
        latest_versions.closed_at,
        round(date_diff('minute', latest_versions.opened_at, latest_versions.closed_at) / 60, 2)
            as resolution_hours,
        latest_versions.channel,
        latest_versions.category,
        latest_versions.status,
        latest_versions.priority,
        latest_versions.csat_score,
        latest_versions.updated_at,
        latest_versions.partition_date,
        latest_versions.first_partition_date
    from latest_versions
    left join customer_records
        on latest_versions.ticket_id = customer_records.source_record_id
)

select * from final
