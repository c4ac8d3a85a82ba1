with

membership as (
    select * from {{ ref('segment_membership') }}
),

cut as (
    -- One table for every day: it counts up to the latest evaluation, so re-running an old
    -- day (a late file) does not cut away the sends, clicks and orders of the days after it.
    select greatest({{ as_of_timestamp() }}, max(evaluated_at)) as cut_at from membership
),

email_events as (
    select email_events.* from {{ ref('fct_email_events') }} as email_events, cut
    where email_events.customer_id is not null and email_events.occurred_at < cut.cut_at
),

orders as (
    select orders.* from {{ ref('fct_orders') }} as orders, cut
    where orders.is_revenue and orders.customer_id is not null and orders.ordered_at < cut.cut_at
),

evaluations as (
    select distinct as_of_date from membership
),

sends as (
    select customer_id, campaign_id, min(occurred_at) as sent_at
    from email_events
    where event_type = 'sent' and campaign_id is not null
    group by customer_id, campaign_id
),

sends_with_evaluation as (
    -- a send counts for the segments the customer was in at the latest evaluation before the
    -- send's day, so the campaign's own effect never decides its audience
    select sends.*, evaluations.as_of_date
    from sends
    asof inner join evaluations
        on cast(timezone('UTC', sends.sent_at) as date) > evaluations.as_of_date
),

sends_by_segment as (
    select sends_with_evaluation.*, membership.segment
    from sends_with_evaluation
    inner join membership using (customer_id, as_of_date)
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
        any_value(cut.cut_at) as evaluated_at
    from sends_by_segment
    cross join cut
    left join responses using (customer_id, campaign_id)
    left join orders_after_click using (customer_id, campaign_id)
    group by sends_by_segment.segment, sends_by_segment.campaign_id
)

select * from final
