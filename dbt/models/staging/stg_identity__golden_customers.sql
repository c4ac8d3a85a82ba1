with

source as (
    select * from {{ source('identity', 'golden_customers') }}
),

renamed as (
    select
        customer_id,
        -- Direct identifiers (names, email, phone, street, postcode, birth date) stay in the
        -- identity layer: from here on a customer is a salted hash and coarse attributes.
        {{ hash_email('email') }} as email_hash,
        {{ age_band('date_of_birth') }} as age_band,
        city,
        country,
        record_count,
        sources,
        first_seen_at,
        last_seen_at,
        updated_partition
    from source
)

select * from renamed
