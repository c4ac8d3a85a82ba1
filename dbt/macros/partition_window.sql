{#- The partition window of a run: landing days [min_date, max_date) and the moment `as_of`.

    Dagster writes it to the one-row table `ops.dbt_partition` before it starts dbt and empties
    it afterwards, so the `--vars` of a run never change and dbt keeps its partial parse (a
    changed var forces a full parse, about five seconds). Vars of the same names still win, for
    a build by hand; an empty table and no vars mean every partition, as of now. -#}

{% macro create_partition_window_table() -%}
    create schema if not exists ops;
    create table if not exists ops.dbt_partition (
        partition_key varchar, min_date date, max_date date, as_of timestamptz
    )
{%- endmacro %}

{#- A bound of the window: the var of that name, else the table's, else unbounded. -#}
{% macro window_bound(name, aggregate, unbounded) -%}
    {%- if var(name) is not none -%}
        date '{{ var(name) }}'
    {%- else -%}
        coalesce((select {{ aggregate }}({{ name }}) from ops.dbt_partition), date '{{ unbounded }}')
    {%- endif -%}
{%- endmacro %}

{#- A date range DuckDB skips storage with: the lower bound is cast back to a date, because a
    date column compared with a timestamp (what `date - interval` gives) is cast row by row,
    which reads every stored day. -#}
{% macro partition_window_filter(column, lookback_days=0) -%}
    ({{ column }} >= cast({{ window_bound('min_date', 'min', '-infinity') }}
            - interval {{ lookback_days }} day as date)
        and {{ column }} < {{ window_bound('max_date', 'max', 'infinity') }})
{%- endmacro %}

{#- The moment segments are evaluated at: the window's `as_of` (Dagster passes the end of the
    partition's day, or the run's start for today's partition), else the moment of the build. -#}
{% macro as_of_timestamp() -%}
    {%- if var('as_of') is not none -%}
        cast('{{ var("as_of") }}' as timestamptz)
    {%- else -%}
        coalesce(
            (select max(as_of) from ops.dbt_partition),
            cast(get_current_timestamp() as timestamptz)
        )
    {%- endif -%}
{%- endmacro %}

{#- Partition D is evaluated as of D + 1 day 00:00 UTC, so the date is the day the moment ends. -#}
{% macro as_of_date() -%}
    cast(timezone('UTC', {{ as_of_timestamp() }} - interval 1 microsecond) as date)
{%- endmacro %}

{#- A fact as it had landed by the as-of day: `column` is its (first) landing partition. -#}
{% macro landed_by_as_of(relation, column='partition_date') -%}
    (select * from {{ relation }} where {{ column }} <= {{ as_of_date() }})
{%- endmacro %}

{#- Pre-hook of the incremental models: a re-run replaces its partition as a whole. dbt's
    delete+insert only deletes the keys the new batch carries, so a row dropped from a corrected
    landing file, or a segment change that no longer happens, would otherwise stay. -#}
{% macro delete_partition_window(column) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ partition_window_filter(column) }}
    {%- endif -%}
{%- endmacro %}

{#- Not for Python models: their batch is written by another cursor after the hook's
    transaction began, which would then not see it; their delete+insert on as_of_date replaces
    the day instead. Nor for a segment model kept by another key (segment_performance, by
    campaign). -#}
{% macro delete_as_of_date() -%}
    {%- if is_incremental() and model.language == 'sql' and 'as_of_date' in model.columns -%}
        delete from {{ this }} where as_of_date = {{ as_of_date() }}
    {%- endif -%}
{%- endmacro %}

{#- The as_of_date the run evaluates, as a bound of a range: without a window (no vars, an
    empty table) `unbounded`, so a build by hand judges every evaluation. -#}
{% macro evaluation_bound(unbounded) -%}
    {%- if var('min_date') is not none or var('max_date') is not none or var('as_of') is not none -%}
        {{ as_of_date() }}
    {%- else -%}
        coalesce((select {{ as_of_date() }} from ops.dbt_partition limit 1), date '{{ unbounded }}')
    {%- endif -%}
{%- endmacro %}

{#- Generic tests of an incremental model judge the rows this run wrote: the facts' landing
    window, the segments' as_of_date. Earlier rows were judged by the run that wrote them, and
    re-reading every stored day made each day slower than the last. It also keeps an old day's
    re-run honest: identity is rewound to that day, so rows later days wrote may name
    customers the rewound graph does not know yet (until those days re-run). Tables without
    either column (dimensions) are judged whole, and so is everything in a build without a
    window. Both filters are ranges whose bounds widen to infinity without a window, never
    `no window or ...`: DuckDB skips the row groups outside a range, but not behind an `or`,
    which made every test read every stored day. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set conditions = [where] if where else [] -%}
    {%- set parent = graph.nodes.get(model.attached_node) if model.attached_node else none -%}
    {%- if parent is not none and parent.resource_type == 'model' -%}
        {%- set columns = parent.columns.keys() | list -%}
        {%- if 'partition_date' in columns -%}
            {%- do conditions.append(partition_window_filter('partition_date')) -%}
        {%- elif 'as_of_date' in columns -%}
            {%- do conditions.append('as_of_date between ' ~ evaluation_bound('-infinity')
                ~ ' and ' ~ evaluation_bound('infinity')) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ')
            ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
