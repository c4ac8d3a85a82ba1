with

days as (
    -- wide enough for a year of order history before the first partition and a year ahead
    select cast(day as date) as date_key
    from range(
        date '{{ var("dim_date_start", "2020-01-01") }}',
        date '{{ var("dim_date_end", "2031-01-01") }}',
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
