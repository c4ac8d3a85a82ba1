{#- The events of `events` (a CTE of the run's events, with partition_date and the lineage
    columns) that are their first delivery. An event delivered again on a later day is the same
    event: it counts on the landing day it was first delivered on, across every day of
    `staging` (the events' staging model), once, and a repeat whose first delivery came before
    the run is left as that day's run wrote it. -#}
{% macro first_deliveries(events, staging) -%}
    select {{ events }}.*
    from {{ events }}
    inner join (
        select event_id, min(partition_date) as first_partition_date
        from {{ staging }}
        semi join {{ events }} using (event_id)
        group by event_id
    ) as first_delivery_days
        on {{ events }}.event_id = first_delivery_days.event_id
        and {{ events }}.partition_date = first_delivery_days.first_partition_date
    qualify row_number() over (
        partition by {{ events }}.event_id
        order by
            {{ events }}.partition_date,
            {{ events }}.source_file,
            {{ events }}.source_row_number
    ) = 1
{%- endmacro %}
