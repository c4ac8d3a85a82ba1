{#- Kept per campaign: a day re-counts only the campaigns it can change (campaigns_to_count),
    each of them from all its sends, and leaves every other campaign's row as it was. Rebuilt
    whole from every evaluation, the model grew with the history (at 200,000 people, 4.4 s of
    a day on a 30-day warehouse). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_campaigns_to_count() }}",
) }}
-- depends_on: {{ ref('dim_campaign') }}

with

cut as (
    -- One table for every day: it counts up to the latest evaluation, so re-running an old
    -- day (a late file) does not cut away the sends, clicks and orders of the days after it.
    select greatest({{ as_of_timestamp() }}, max(evaluated_at)) as cut_at
    from {{ ref('segment_membership') }}
),

email_events as (
    select customer_id, campaign_id, event_type, occurred_at
    from {{ ref('fct_email_events') }}
    {%- if is_incremental() %}
    semi join ({{ campaigns_to_count() }}) as campaigns using (campaign_id)
    {%- endif %}
    where customer_id is not null and campaign_id is not null
        and occurred_at < (select cut_at from cut)
    {%- if is_incremental() %}
        -- the bound lets DuckDB skip the stored days before the campaigns' first events
        and occurred_at >= (
            select min(first_seen_at)
            from {{ ref('dim_campaign') }}
            semi join ({{ campaigns_to_count() }}) as campaigns using (campaign_id)
        )
    {%- endif %}
),

orders as (
    select customer_id, order_id, ordered_at, order_amount_reporting
    from {{ ref('fct_orders') }}
    where is_revenue and customer_id is not null and ordered_at < (select cut_at from cut)
),

evaluations as (
    select distinct as_of_date from {{ ref('segment_membership') }}
),

sends as (
    select
        customer_id,
        campaign_id,
        cast(timezone('UTC', min(occurred_at)) as date) as sent_on
    from email_events
    where event_type = 'sent'
    group by customer_id, campaign_id
),

send_day_evaluations as (
    -- a send counts for the segments the customer was in at the latest evaluation before the
    -- send's day, so the campaign's own effect never decides its audience
    select send_days.sent_on, evaluations.as_of_date
    from (select distinct sent_on from sends) as send_days
    asof inner join evaluations on send_days.sent_on > evaluations.as_of_date
),

members as (
    select customer_id, as_of_date, segment
    from {{ ref('segment_membership') }}
    semi join send_day_evaluations using (as_of_date)
),

sends_by_segment as (
    -- a left join first, so the optimizer cannot join members on customer_id alone
    select sends.customer_id, sends.campaign_id, members.segment
    from sends
    left join send_day_evaluations using (sent_on)
    inner join members using (customer_id, as_of_date)
),

responses as (
    select
        customer_id,
        campaign_id,
        bool_or(event_type = 'open') as has_opened,
        min(occurred_at) filter (where event_type = 'click') as first_clicked_at
    from email_events
    group by customer_id, campaign_id
),

orders_after_click as (
    -- attributed when placed within 7 days after the customer's first click on the campaign
    select responses.customer_id, responses.campaign_id, orders.order_id,
        orders.order_amount_reporting
    from responses
    inner join orders
        on orders.customer_id = responses.customer_id
        and orders.ordered_at > responses.first_clicked_at
        and orders.ordered_at <= responses.first_clicked_at + interval 7 day
),

final as (
    select
        sends_by_segment.segment,
        sends_by_segment.campaign_id,
        count(distinct sends_by_segment.customer_id) as sends,
        count(distinct sends_by_segment.customer_id) filter (where responses.has_opened)
            as opens,
        count(distinct sends_by_segment.customer_id)
            filter (where responses.first_clicked_at is not null) as clicks,
        count(distinct orders_after_click.order_id) as orders,
        cast(coalesce(sum(orders_after_click.order_amount_reporting), 0) as decimal(18, 2))
            as revenue,
        round(opens / sends, 4) as open_rate,
        round(clicks / sends, 4) as click_rate,
        (select cut_at from cut) as evaluated_at
    from sends_by_segment
    left join responses using (customer_id, campaign_id)
    left join orders_after_click using (customer_id, campaign_id)
    group by sends_by_segment.segment, sends_by_segment.campaign_id
)

select * from final
