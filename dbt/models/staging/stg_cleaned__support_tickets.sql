with

source as (
    select * from {{ source('cleaned', 'support_tickets') }}
),

renamed as (
    select
        ticket_id,
        opened_at,
        closed_at,
        requester_email,
        channel,
        category,
        status,
        priority,
        csat_score,
        updated_at,
        _partition_date as partition_date,
        _source_file as source_file,
        _row_number as source_row_number
    from source
)

select * from renamed
