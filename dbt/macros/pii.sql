{#- Salted SHA-256 of a normalized email: joins and counts without the address itself. The salt
    (CDP_PII_SALT) reaches DuckDB as a variable set by the plugin resources/dbt_pii.py, never as
    SQL text: it is in no compiled model, log or run. Keep it stable, or every hash (and every
    export keyed on it) changes. -#}
{% macro hash_email(column) -%}
    case when {{ column }} is not null
        then sha256(getvariable('cdp_pii_salt') || lower(trim({{ column }})))
    end
{%- endmacro %}
