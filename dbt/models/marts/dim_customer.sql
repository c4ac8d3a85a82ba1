with

golden_customers as (
    select * from {{ ref('stg_identity__golden_customers') }}
),

final as (
    select
        customer_id,
        email_hash,
        age_band,
        city,
        country,
        first_seen_at,
        last_seen_at,
        record_count,
        sources,
        len(string_split(sources, ',')) as source_count,
        contains(sources, 'crm_contacts') as has_crm_contact,
        contains(sources, 'shop_customers') as has_shop_account,
        contains(sources, 'web_events') as has_web_activity,
        contains(sources, 'email_events') as has_email_activity,
        contains(sources, 'support_tickets') as has_support_ticket,
        updated_partition
    from golden_customers
)

select * from final
