{#- Post-hook of incremental facts: the identity graph merges and splits customers after a fact
    row was written, so every run re-points old rows at their record's current customer_id,
    read from the same current records the facts attach customers with.
    `fact_key` is the fact's column holding the record id, `record_id` the same id computed from
    the records' `source_record_id` (a hash for email records, which the marts never store raw). -#}
{% macro restitch_customers(identity_source, fact_key, record_id='source_record_id') %}
    update {{ this }} as fact
    set customer_id = current_records.customer_id
    from (
        select {{ record_id }} as record_id, customer_id
        from {{ ref('int_customer_records_filtered_to_current') }}
        where record_source = '{{ identity_source }}'
    ) as current_records
    where fact.{{ fact_key }} = current_records.record_id
        and fact.customer_id is distinct from current_records.customer_id
{% endmacro %}
