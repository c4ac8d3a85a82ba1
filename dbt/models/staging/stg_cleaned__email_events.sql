with

source as (
    select * from {{ source('cleaned', 'email_events') }}
),

renamed as (
    select
        event_id,
        occurred_at,
        email,
        campaign_id,
        event_type,
        url,
        _partition_date as partition_date,
        _source_file as source_file,
        _row_number as source_row_number
    from source
)

select * from renamed
