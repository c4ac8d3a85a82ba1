{#- The campaigns a run can change the performance of, which segment_performance counts again
    (from all their sends) while every other campaign keeps its row:
    - the campaigns of the email events that landed in the window (sends, opens, clicks);
    - the campaigns clicked in the 7 days before an order that landed in the window (a new
      order, or a refund that stops one counting);
    - the campaigns sent after the moment the run evaluates, whose audience that evaluation
      (or a later one) is: re-running an old day re-evaluates that day's segments.
    Without a window (a build by hand) the first covers every campaign. An identity merge alone
    does not re-count a campaign: its sends were counted with the customers, and the
    evaluations, of their day. -#}
{% macro campaigns_to_count() -%}
    select campaign_id from {{ ref('fct_email_events') }}
    where {{ partition_window_filter('partition_date') }} and campaign_id is not null
    union
    select clicks.campaign_id
    from {{ ref('fct_orders') }} as orders
    inner join {{ ref('fct_email_events') }} as clicks
        on clicks.customer_id = orders.customer_id
        and clicks.event_type = 'click'
        and orders.ordered_at > clicks.occurred_at
        and orders.ordered_at <= clicks.occurred_at + interval 7 day
    where {{ partition_window_filter('orders.partition_date') }}
        and clicks.campaign_id is not null
        and clicks.occurred_at >= (
            select min(ordered_at) - interval 7 day from {{ ref('fct_orders') }}
            where {{ partition_window_filter('partition_date') }}
        )
    union
    select campaign_id from {{ ref('fct_email_events') }}
    where event_type = 'sent' and campaign_id is not null and occurred_at >= {{ as_of_timestamp() }}
{%- endmacro %}

{% macro delete_campaigns_to_count() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where campaign_id in ({{ campaigns_to_count() }})
    {%- endif -%}
{%- endmacro %}
