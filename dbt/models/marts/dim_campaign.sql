with

email_events as (
    select * from {{ ref('stg_cleaned__email_events') }}
),

web_events as (
    select * from {{ ref('stg_cleaned__web_events') }}
),

email_campaigns as (
    select
        campaign_id,
        'email' as channel,
        min(occurred_at) filter (where event_type = 'sent') as first_sent_at,
        min(occurred_at) as first_seen_at
    from email_events
    where campaign_id is not null
    group by campaign_id
),

web_campaigns as (
    -- paid and social campaigns are only known from the utm tags of the visits they bring
    select
        utm_campaign as campaign_id,
        mode(utm_source) as channel,
        cast(null as timestamptz) as first_sent_at,
        min(occurred_at) as first_seen_at
    from web_events
    where utm_campaign is not null
    group by utm_campaign
),

final as (
    select * from email_campaigns
    union all
    select * from web_campaigns
    where campaign_id not in (select campaign_id from email_campaigns)
)

select * from final
