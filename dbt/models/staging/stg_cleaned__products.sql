with

source as (
    select * from {{ source('cleaned', 'products') }}
),

renamed as (
    select
        sku,
        name as product_name,
        category,
        brand,
        price,
        currency,
        updated_at,
        _partition_date as partition_date,
        _source_file as source_file,
        _row_number as source_row_number
    from source
)

select * from renamed
