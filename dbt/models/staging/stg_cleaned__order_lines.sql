with

source as (
    select * from {{ source('cleaned', 'orders') }}
),

renamed as (
    select
        order_id,
        line_number,
        order_id || '-' || cast(line_number as varchar) as order_line_id,
        customer_id as shop_customer_id,
        ordered_at,
        status,
        sku,
        quantity,
        unit_price,
        currency,
        _partition_date as partition_date,
        _source_file as source_file,
        _row_number as source_row_number
    from source
)

select * from renamed
