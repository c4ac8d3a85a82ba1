with

source as (
    select * from {{ source('cleaned', 'web_events') }}
),

renamed as (
    select
        event_id,
        occurred_at,
        anonymous_id,
        user_id,
        email,
        event_type,
        url,
        sku,
        quantity,
        price,
        utm_source,
        utm_campaign,
        device_type,
        _partition_date as partition_date,
        _source_file as source_file,
        _row_number as source_row_number
    from source
)

select * from renamed
