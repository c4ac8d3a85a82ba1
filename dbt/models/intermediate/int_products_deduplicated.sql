with

products as (
    select * from {{ ref('stg_cleaned__products') }}
),

final as (
    -- every landing day keeps its own latest version; the catalog is the newest across days
    select *
    from products
    qualify row_number() over (
        partition by sku
        order by partition_date desc, updated_at desc, source_file desc, source_row_number desc
    ) = 1
)

select * from final
