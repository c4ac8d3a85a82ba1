{% macro drop_python_model_temp_tables() -%}
    {#- dbt-duckdb builds a Python incremental model's new rows in a real table named
        <model>__dbt_tmp<timestamp> in the default schema, and never drops it (it counts it as
        temporary): without this every run leaves a copy of the day's personas behind. -#}
    {%- if execute -%}
        {%- set leftovers = run_query(
            "select schema_name, table_name from duckdb_tables()"
            " where database_name = current_database() and not temporary"
            " and contains(table_name, '__dbt_tmp')"
        ) -%}
        {%- for row in leftovers.rows -%}
            {%- do run_query('drop table if exists "' ~ row[0] ~ '"."' ~ row[1] ~ '"') -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
