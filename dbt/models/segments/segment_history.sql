{{ config(materialized='incremental') }}

with

membership as (
    select * from {{ ref('segment_membership') }}
),

evaluation as (
    select {{ as_of_date() }} as as_of_date, {{ as_of_timestamp() }} as as_of_at
),

previous_evaluation as (
    -- the latest earlier evaluation, which need not be yesterday if days were skipped
    select max(membership.as_of_date) as previous_as_of_date
    from membership, evaluation
    where membership.as_of_date < evaluation.as_of_date
),

current_members as (
    select membership.*
    from membership
    inner join evaluation using (as_of_date)
),

previous_members as (
    select membership.*
    from membership
    inner join previous_evaluation
        on membership.as_of_date = previous_evaluation.previous_as_of_date
),

entered as (
    select customer_id, segment, 'entered' as event_type, reason
    from current_members
    anti join previous_members using (customer_id, segment)
),

exited as (
    select customer_id, segment, 'exited' as event_type, 'no longer: ' || reason as reason
    from previous_members
    anti join current_members using (customer_id, segment)
),

final as (
    select
        changes.customer_id,
        changes.segment,
        changes.event_type,
        evaluation.as_of_at as event_at,
        evaluation.as_of_date,
        previous_evaluation.previous_as_of_date,
        changes.reason
    from (select * from entered union all select * from exited) as changes
    cross join evaluation
    cross join previous_evaluation
)

select * from final
