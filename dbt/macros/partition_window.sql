{#- The partition window Dagster passes through --vars; both unset means every partition. -#}

{% macro partition_window_filter(column, lookback_days=0) -%}
    {%- set min_date = var('min_date') -%}
    {%- set max_date = var('max_date') -%}
    {%- if min_date is none and max_date is none -%}
        true
    {%- else -%}
        {%- set conditions = [] -%}
        {%- if min_date is not none -%}
            {%- do conditions.append(column ~ " >= date '" ~ min_date ~ "' - interval " ~ lookback_days ~ " day") -%}
        {%- endif -%}
        {%- if max_date is not none -%}
            {%- do conditions.append(column ~ " < date '" ~ max_date ~ "'") -%}
        {%- endif -%}
        ({{ conditions | join(' and ') }})
    {%- endif -%}
{%- endmacro %}

{#- The moment segments are evaluated at: var `as_of` (Dagster passes the end of the partition's
    day, or the run's start for today's partition), else the moment of the build. -#}
{% macro as_of_timestamp() -%}
    {%- if var('as_of') is not none -%}
        cast('{{ var("as_of") }}' as timestamptz)
    {%- else -%}
        cast(get_current_timestamp() as timestamptz)
    {%- endif -%}
{%- endmacro %}

{#- Partition D is evaluated as of D + 1 day 00:00 UTC, so the date is the day the moment ends. -#}
{% macro as_of_date() -%}
    cast(timezone('UTC', {{ as_of_timestamp() }} - interval 1 microsecond) as date)
{%- endmacro %}

{#- Pre-hook of the incremental models: a re-run replaces its partition as a whole. dbt's
    delete+insert only deletes the keys the new batch carries, so a row dropped from a corrected
    landing file, or a segment change that no longer happens, would otherwise stay. -#}
{% macro delete_partition_window(column) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ partition_window_filter(column) }}
    {%- endif -%}
{%- endmacro %}

{% macro delete_as_of_date() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where as_of_date = {{ as_of_date() }}
    {%- endif -%}
{%- endmacro %}
