with

customer_records as (
    select * from {{ ref('stg_identity__customer_records') }}
),

final as (
    -- the current graph (docs/identity-graph.md): facts always attach to today's customer
    select
        record_source,
        source_record_id,
        record_key,
        customer_id
    from customer_records
    where valid_to is null
)

select * from final
