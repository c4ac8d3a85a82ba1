{#- Post-hook of incremental facts: the identity graph merges and splits customers after a fact
    row was written, so every run re-points old rows at their record's current customer_id.
    `fact_key` is the fact's column holding the record id, `record_id` the same id computed from
    identity's `source_record_id` (a hash for email records, which the marts never store raw). -#}
{% macro restitch_customers(identity_source, fact_key, record_id='source_record_id') %}
    update {{ this }} as fact
    set customer_id = current_records.customer_id
    from (
        select {{ record_id }} as record_id, customer_id
        from {{ source('identity', 'customer_records') }}
        where valid_to is null and source = '{{ identity_source }}'
    ) as current_records
    where fact.{{ fact_key }} = current_records.record_id
        and fact.customer_id is distinct from current_records.customer_id
{% endmacro %}
