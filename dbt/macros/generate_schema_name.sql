{#- The layer name is the schema: `star`, not `main_star`, so DuckDB, dbt and Dagster agree. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
