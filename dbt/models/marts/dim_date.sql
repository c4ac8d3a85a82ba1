-- The calendar has no input, yet each day's run builds it so that automation, which follows
-- inputs, builds it too: it follows the staged products of the day (a source every day has,
-- empty or not).
-- depends_on: {{ ref('stg_cleaned__products') }}

with

days as (
    -- vars dim_date_start (inclusive) and dim_date_end (exclusive), dbt_project.yml
    select cast(day as date) as date_key
    from range(
        date '{{ var("dim_date_start") }}',
        date '{{ var("dim_date_end") }}',
        interval 1 day
    ) as days (day)
),

final as (
    select
        date_key,
        cast(year(date_key) as integer) as year,
        cast(quarter(date_key) as integer) as quarter,
        cast(month(date_key) as integer) as month,
        monthname(date_key) as month_name,
        cast(isoyear(date_key) as integer) as iso_year,
        cast(week(date_key) as integer) as iso_week,
        cast(isodow(date_key) as integer) as iso_day_of_week,
        dayname(date_key) as day_name,
        isodow(date_key) in (6, 7) as is_weekend
    from days
)

select * from final
