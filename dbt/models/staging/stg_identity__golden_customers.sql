with

source as (
    select * from {{ source('identity', 'golden_customers') }}
),

renamed as (
    select
        customer_id,
        first_name,
        last_name,
        email,
        city,
        postcode,
        country,
        record_count,
        sources,
        first_seen_at,
        last_seen_at,
        updated_partition
    from source
)

select * from renamed
