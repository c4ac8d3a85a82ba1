with

source as (
    select * from {{ source('identity', 'customer_records') }}
),

renamed as (
    select
        source as record_source,
        source_record_id,
        record_key,
        customer_id,
        valid_from,
        valid_to
    from source
)

select * from renamed
