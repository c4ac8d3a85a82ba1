with

products as (
    select * from {{ ref('int_products_deduplicated') }}
),

final as (
    select
        sku,
        product_name,
        category,
        brand,
        price,
        currency,
        {{ to_reporting_currency('price', 'currency') }} as price_reporting,
        updated_at,
        partition_date
    from products
)

select * from final
